"""A compose stack in podman for the container tests: `docker-compose up --build` of some compose files
(containers/podman_compose.py), its gateway published on a free loopback port, and `docker-compose down -v` after,
checked to leave no container, network or volume behind (the images stay, as build cache).

Skips, with the reason, where podman cannot run (not root, no podman: `make container-deps` installs it) or there
is no model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "containers"))
import podman_compose  # noqa: E402

SHARED = Path(os.environ.get("FACEBLUR_SHARED", REPO_ROOT.parent / "shared"))
MODEL_DIR = SHARED / "models"
NON_ROOT_USER = "faceblur"  # the Dockerfile's USER
APP_SERVICES = ("face-service", "gateway")


@dataclass
class ComposeStack:
    engine: podman_compose.PodmanEngine
    env: dict[str, str]
    url: str

    @property
    def project(self) -> str:
        return self.engine.project

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.engine.compose(*args, env=self.env, timeout=timeout)

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def container(self, service: str) -> str:
        ids = self.containers(service)
        assert len(ids) == 1, f"{service}: containers {ids}"
        return ids[0]

    def inspect(self, service: str) -> dict:
        """`podman inspect` of the service's one container."""
        return inspect_container(self.container(service))

    def volumes_in_use(self) -> set[str]:
        """Every volume mounted in the project's containers: named and anonymous ones."""
        label = f"label=com.docker.compose.project={self.project}"
        ids = podman_compose.podman("ps", "--all", "--quiet", "--filter", label).split()
        found = set()
        for container in ids:
            mounts = inspect_container(container)["Mounts"]
            found |= {mount["Name"] for mount in mounts if mount.get("Type") == "volume"}
        return found

    def logs(self, tail: int = 60) -> str:
        done = self.engine.compose("logs", "--no-color", f"--tail={tail}", env=self.env, timeout=60, check=False)
        return done.stdout + done.stderr


def inspect_container(container: str) -> dict:
    return json.loads(podman_compose.podman("inspect", container))[0]


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, timeout: float, face_services: int = 1) -> dict:
    """/readyz ready, with at least ``face_services`` face services listed, all SERVING."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/readyz", timeout=5)
            last = answer.text
            body = answer.json()
            serving = list(body.get("face_services", {}).values()).count("SERVING")
            if answer.status_code == 200 and body.get("status") == "ready" and serving >= face_services:
                return body
        except (httpx.HTTPError, ValueError) as error:
            last = error
        time.sleep(1)
    raise AssertionError(f"the gateway was not ready within {timeout} s: {last}")


def wait_for_health(stack: ComposeStack, service: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = (stack.inspect(service)["State"].get("Health") or {}).get("Status")
        if status == "healthy":
            break
        time.sleep(1)
    return status


def restarted(inspect: Callable[[], dict], before: dict, timeout: float = 60) -> dict:
    """``inspect()`` (a container's `podman inspect`) once its RestartCount has moved past ``before``'s, or the last
    one after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    after = before
    while after["RestartCount"] == before["RestartCount"] and time.monotonic() < deadline:
        time.sleep(0.5)
        after = inspect()
    return after


def face_services_become(api: httpx.Client, expected: Callable[[], Iterable[str]], timeout: float = 120) -> dict:
    """/readyz's face services once they are exactly the ``expected()`` addresses (asked again each time: a
    restarted replica may come back under another), each SERVING."""
    deadline = time.monotonic() + timeout
    while True:
        seen = api.get("/readyz").json()["face_services"]
        wanted = dict.fromkeys(expected(), "SERVING")
        if seen == wanted:
            return seen
        assert time.monotonic() < deadline, f"/readyz lists {seen}, not {set(wanted)} SERVING"
        time.sleep(1)


def post_video(api: httpx.Client, clip: Path) -> str:
    """POST the clip to /blur_video; returns the task id (and checks the answer was 202 Accepted)."""
    answer = api.post("/blur_video", files={"file": (clip.name, clip.read_bytes(), "video/mp4")})
    assert answer.status_code == 202, answer.text
    return answer.json()["task_id"]


def wait_for_blurred_video(api: httpx.Client, task_id: str, frames: int) -> dict:
    """The video task once done, checked: SUCCESS with ``frames`` frames and the sound kept, and its video an MP4
    of the size the result gives."""
    task = wait_for(api, task_id, timeout=240)
    assert task["status"] == "SUCCESS", task
    assert task["result"]["frames"] == frames and task["result"]["audio"] is True
    video = api.get(task["result"]["video_url"])
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    assert len(video.content) == task["result"]["size_bytes"]
    return task


def processes(container: str) -> tuple[str, list[list[str]]]:
    """`podman top` of the container: its text, and a row per process (user, host user, pid, args)."""
    top = podman_compose.podman("top", container, "user", "huser", "pid", "args")
    return top, [line.split(None, 3) for line in top.splitlines()[1:] if line.strip()]


@contextmanager
def running_stack(
    work_dir: Path, files: Sequence[Path], up_args: Sequence[str] = (), face_services: int = 1
) -> Iterator[ComposeStack]:
    """`docker-compose -f FILE... up --build --detach UP_ARGS` in a project of its own, yielded once the gateway is
    ready with ``face_services`` face services; then `down -v`, which must leave nothing of the project."""
    reason = podman_compose.missing_prerequisites()
    if reason:
        pytest.skip(f"cannot run the containers here: {reason}")
    if not (MODEL_DIR / "yolov8n-face_int8.tflite").exists():
        pytest.skip(f"no model in {MODEL_DIR} (FACEBLUR_SHARED points at ../shared)")
    podman_compose.build_base_images()

    project = f"faceblurtest{uuid.uuid4().hex[:8]}"
    port = free_loopback_port()
    env = {"MODEL_DIR": str(MODEL_DIR), "GATEWAY_PUBLISH_PORT": f"127.0.0.1:{port}"}
    engine = podman_compose.PodmanEngine(project, work_dir, files=files).start()
    stack = ComposeStack(engine, env, f"http://127.0.0.1:{port}")
    volumes: set[str] = set()
    try:
        stack.compose("up", "--build", "--detach", *up_args, timeout=900)
        try:
            wait_until_ready(stack.url, timeout=240, face_services=face_services)
        except AssertionError:
            print(stack.logs())
            raise
        yield stack
    finally:
        try:
            volumes = stack.volumes_in_use()
            stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "20", timeout=300)
            left = podman_compose.podman(
                "ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={project}"
            ).split()
            existing = set(podman_compose.podman("volume", "ls", "--quiet").split())
            networks = [name for name in podman_compose.podman("network", "ls", "--format", "{{.Name}}").split()]
            assert not left, f"containers left behind: {left}"
            assert not [name for name in existing if name.startswith(project)], f"volumes left behind: {existing}"
            assert not volumes & existing, f"volumes left behind: {volumes & existing}"  # anonymous ones too
            assert not [name for name in networks if name.startswith(project)], f"networks left: {networks}"
        finally:
            engine.stop()
