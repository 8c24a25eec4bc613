"""The real thing: both images built from the Dockerfile's targets and the stack started by `docker-compose up --build`
from docker-compose.yml, then used over HTTP (`make test-containers`; part of `make test`).

Runs with podman as root (containers/podman_compose.py: podman's Docker-compatible API, runc, netavark), on
stand-in base images where python:3.11-slim and redis:7 cannot be pulled (containers/build_bases.sh). The
gateway is published on a free loopback port (GATEWAY_PUBLISH_PORT), Redis and the face service only on the
project's own container network, so a developer's `make run` on 8000 / 50051 / 6379 is left alone. Afterwards
`docker-compose down -v` leaves no container, network or volume behind (the images stay, as build cache).
Skips, with the reason, where podman cannot run (not root, no podman: `make container-deps` installs it).
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.containers.stacks import (
    APP_SERVICES,
    NON_ROOT_USER,
    SHARED,
    ComposeStack,
    face_services_become,
    podman_compose,
    post_video,
    processes,
    restarted,
    running_stack,
    wait_for_blurred_video,
    wait_for_health,
)
from tests.gateway.helpers import metrics, reference_jpeg, submit, wait_for

REFERENCE_IMAGE = SHARED / "data" / "reference" / "test.jpg"

# One budget for the module's first test, which builds everything cold: debootstrap and the stand-in base
# images (about 2 min), both service images (about 3 min), then `up`. Warm, the same takes under a minute.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    """docker-compose.yml's stack as it is (tests/containers/stacks.py: built, started, then down -v); the
    conftest's ``api`` is its client."""
    with running_stack(tmp_path_factory.mktemp("podman"), podman_compose.COMPOSE_FILES) as stack:
        yield stack


def test_readyz_reports_redis_and_the_face_service_ready(api: httpx.Client) -> None:
    answer = api.get("/readyz")

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ready"
    assert answer.json()["redis"] == "ok"
    assert set(answer.json()["face_services"].values()) == {"SERVING"}


def test_detect_faces_finds_both_faces_of_the_reference_photo(api: httpx.Client) -> None:
    task = wait_for(api, submit(api, "detect_faces", reference_jpeg()), timeout=120)

    assert task["status"] == "SUCCESS", task
    assert sorted(task["result"]) == ["face_1", "face_2"]


def test_blur_faces_returns_a_decodable_image_of_the_same_size(api: httpx.Client) -> None:
    from PIL import Image

    task = wait_for(api, submit(api, "blur_faces", reference_jpeg()), timeout=120)

    assert task["status"] == "SUCCESS", task
    with Image.open(REFERENCE_IMAGE) as original:
        size = original.size
    blurred = Image.open(io.BytesIO(base64.b64decode(task["result"])))
    blurred.load()
    assert blurred.size == size
    assert len(task["faces"]) == 2


def test_a_video_round_trip_through_the_shared_media_volume(api: httpx.Client, tmp_path: Path) -> None:
    """Upload (gateway), segments (face service), result (gateway): all through the `media` named volume."""
    from tests.videos import write_clip

    task_id = post_video(api, write_clip(tmp_path / "clip.mp4", seconds=1, size=(320, 180)))

    wait_for_blurred_video(api, task_id, frames=25)


@pytest.mark.parametrize("service", ["face-service", "gateway", "redis"])
def test_healthchecks_report_healthy(compose_stack: ComposeStack, service: str) -> None:
    assert wait_for_health(compose_stack, service) == "healthy", compose_stack.logs()


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_process_of_the_service_runs_as_the_non_root_user(compose_stack: ComposeStack, service: str) -> None:
    top, rows = processes(compose_stack.container(service))

    assert rows
    assert {user for user, *_ in rows} == {NON_ROOT_USER}, top
    assert "0" not in {host_user for _, host_user, *_ in rows}, top


def test_face_service_killed_with_tasks_queued_is_restarted_and_every_task_succeeds(
    compose_stack: ComposeStack, api: httpx.Client
) -> None:
    before = compose_stack.inspect("face-service")
    task_ids = [submit(api, "detect_faces", reference_jpeg()) for _ in range(8)]

    os.kill(before["State"]["Pid"], 9)  # the container's main process: python -m face_detection_service

    after = restarted(lambda: compose_stack.inspect("face-service"), before)
    assert after["RestartCount"] > before["RestartCount"], "the restart policy did not bring the face service back"
    tasks = [wait_for(api, task_id, timeout=240) for task_id in task_ids]
    assert [task["status"] for task in tasks] == ["SUCCESS"] * len(tasks), tasks
    assert all(sorted(task["result"]) == ["face_1", "face_2"] for task in tasks)
    assert after["State"]["Running"]


def test_scaled_face_service_replicas_are_found_by_name_and_share_the_jobs(
    compose_stack: ComposeStack, api: httpx.Client
) -> None:
    """`docker-compose up --scale face-service=2`, no edit: the gateway's FACE_SERVICE_ADDRESSES is
    dns:///face-service:50051, podman's DNS (aardvark-dns, like Docker's embedded DNS) answers the service name with
    every replica's address, and within GATEWAY_FACE_RESOLVE_SECONDS each replica is in /readyz and gets jobs.
    Scaled back to one, the other leaves /readyz. Runs last: the tests above expect one face-service container."""

    def replica_addresses() -> set[str]:
        ids = compose_stack.compose("ps", "-q", "face-service").stdout.split()
        networks = [json.loads(podman_compose.podman("inspect", i))[0]["NetworkSettings"]["Networks"] for i in ids]
        return {f"{net['IPAddress']}:50051" for each in networks for net in each.values()}

    try:
        compose_stack.compose("up", "--detach", "--no-recreate", "--scale", "face-service=2", timeout=300)
        scaled = replica_addresses()
        assert len(scaled) == 2, scaled
        face_services_become(api, lambda: scaled)
        task_ids = [submit(api, "detect_faces", reference_jpeg()) for _ in range(10)]
        tasks = [wait_for(api, task_id, timeout=240) for task_id in task_ids]
        assert [task["status"] for task in tasks] == ["SUCCESS"] * len(tasks), tasks
        sent = metrics(f"{compose_stack.url}/metrics")
        for address in scaled:
            assert sent.get(f"faceblur_gateway_face_service_jobs_total{{address={address}}}", 0) >= 1, sent
    finally:
        compose_stack.compose("up", "--detach", "--no-recreate", "--scale", "face-service=1", timeout=300)
    face_services_become(api, replica_addresses)
