"""Small client-side helpers the gateway tests share: submit an image, wait for its task, compare boxes."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterable

import cv2
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import REFERENCE_IMAGE

FINAL = {"SUCCESS", "FAILURE"}


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
    response = api.post(
        f"/{endpoint}",
        files={"file": (filename, image, "application/octet-stream")},
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


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.05)
