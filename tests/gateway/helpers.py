"""Small client-side helpers the gateway tests share: submit an image or a video, wait for its task, compare boxes."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import REFERENCE_IMAGE, FaceService, free_port
from tests.videos import decoded_frames

FINAL = {"SUCCESS", "FAILURE"}
UNDER_WAY = ("PENDING", "RUNNING")


def reference_jpeg() -> bytes:
    return REFERENCE_IMAGE.read_bytes()


def small_jpeg(width: int = 640) -> bytes:
    """The reference photo scaled down: quick to process, for tests that push many jobs."""
    original = cv2.imread(str(REFERENCE_IMAGE))
    height = round(original.shape[0] * width / original.shape[1])
    ok, encoded = cv2.imencode(".jpg", cv2.resize(original, (width, height), interpolation=cv2.INTER_AREA))
    assert ok
    return encoded.tobytes()


def submit(api: httpx.Client, endpoint: str, image: bytes, filename: str = "photo.jpg", **options: object) -> str:
    """POST the image; returns the task id (and checks the answer was 202 Accepted)."""
    return upload(api, endpoint, (filename, image, "application/octet-stream"), **options)


def start_video(api: httpx.Client, clip: Path, content_type: str = "video/mp4", **options: object) -> str:
    """POST the clip to /blur_video under its own file name; returns the task id (checks the 202)."""
    return upload(api, "blur_video", (clip.name, clip.read_bytes(), content_type), **options)


def upload(api: httpx.Client, endpoint: str, file: tuple[str, bytes, str], **options: object) -> str:
    """POST ``file`` (name, content, type) with ``options`` as form fields; returns the task id (checks the 202)."""
    response = api.post(
        f"/{endpoint}",
        files={"file": file},
        data={name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in options.items()},
    )
    assert response.status_code == 202, response.text
    return response.json()["task_id"]


def wait_for(api: httpx.Client, task_id: str, timeout: float = 60.0) -> dict:
    """The task's body once it is SUCCESS or FAILURE (long-polls with ?wait=)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        body = api.get(f"/task_result/{task_id}", params={"wait": max(min(remaining, 10.0), 0.1)}).json()
        if body.get("status") in FINAL:
            return body
        if remaining <= 0:
            raise AssertionError(f"task {task_id} still {body.get('status')} after {timeout:g} s: {body}")


def blur_video(
    api: httpx.Client, clip: Path, timeout: float = 240.0, content_type: str = "video/mp4", **options: object
) -> dict:
    """The clip through /blur_video: the task's body once it is SUCCESS or FAILURE."""
    return wait_for(api, start_video(api, clip, content_type, **options), timeout)


def wait_for_state(
    api: httpx.Client, task_id: str, reached: Callable[[dict], bool], what: str, timeout: float = 60.0
) -> dict:
    """The task's body once ``reached`` says so; until then the task must stay PENDING or RUNNING."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(f"/task_result/{task_id}").json()
        if reached(body):
            return body
        assert body["status"] in UNDER_WAY, body
        assert time.monotonic() < deadline, f"task {task_id} never {what} within {timeout:g} s: {body}"
        time.sleep(0.05)


def part_done(body: dict) -> bool:
    """RUNNING with some frames done (a segment finished) but not all."""
    progress = body.get("progress") or {}
    return body["status"] == "RUNNING" and 0 < progress.get("frames_done", 0) < progress.get("frames_total", 0)


def download_video(api: httpx.Client, body: dict, path: Path) -> Path:
    """The finished video task's output, saved at ``path``."""
    path.write_bytes(api.get(body["result"]["video_url"]).content)
    return path


def assert_whole_video(api: httpx.Client, body: dict, path: Path, frames: int) -> None:
    """The task succeeded and its video (saved at ``path``) has every one of the ``frames``."""
    assert body["status"] == "SUCCESS", body
    assert len(decoded_frames(download_video(api, body, path))) == frames


def assert_head_answers_as_get_does(api: httpx.Client, url: str) -> None:
    """HEAD on ``url``: 200 without a body, with the length, ranges and type a GET answers."""
    full, head = api.get(url), api.head(url)
    assert (head.status_code, head.content) == (200, b""), (url, head.status_code)
    assert head.headers["content-length"] == str(len(full.content))
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["content-type"] == full.headers["content-type"]


def wait_for_all(api: httpx.Client, task_ids: Iterable[str], timeout: float = 90.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    return [wait_for(api, task_id, max(deadline - time.monotonic(), 0.5)) for task_id in task_ids]


def statuses(api: httpx.Client, task_ids: Iterable[str]) -> list[str]:
    return [api.get(f"/task_result/{task_id}").json()["status"] for task_id in task_ids]


def iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def decode_image(base64_text: str) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(base64.b64decode(base64_text), np.uint8), cv2.IMREAD_COLOR)
    assert pixels is not None, "the returned image does not decode"
    return pixels


def metrics(url: str) -> dict[str, float]:
    """Unlabelled samples and ``name{label=value}`` ones, by name."""
    found = {}
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def face_service_with_metrics(work_dir: Path, **env: str) -> tuple[FaceService, str]:
    """A face service started with its Prometheus endpoint on a free port; returns it and that endpoint's URL."""
    port = free_port()
    face = FaceService(work_dir, FACE_METRICS_PORT=str(port), **env).start()
    return face, f"http://127.0.0.1:{port}/metrics"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.05)
