"""A small client of the FaceBlur HTTP API, standard library only, shared by test_detection.py and
test_blurring.py (and usable on its own: `from faceblur_client import submit, wait_for_result`)."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8000"
# ../shared beside the checkout: the reference project's own test image, two faces.
DEFAULT_IMAGE = Path(__file__).resolve().parent.parent / "shared" / "data" / "reference" / "test.jpg"
LONG_POLL_SECONDS = 10


class TaskError(Exception):
    """The request was refused, the task failed, or it did not finish in time."""


def common_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("image", nargs="?", type=Path, default=DEFAULT_IMAGE, help="image file (default: %(default)s)")
    parser.add_argument("--url", default=DEFAULT_URL, help="the gateway's base URL (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result (default: 120)")
    parser.add_argument("--preset", choices=("fast", "balanced", "max_recall"), help="detection preset")
    parser.add_argument("--threshold", type=float, help="drop faces below this confidence (0..1)")
    return parser


def multipart_body(image: Path, fields: dict[str, object]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{image.name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + image.read_bytes()
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request_json(request: urllib.request.Request | str, timeout: float) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of a request; HTTP error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, json.loads(body)
        except ValueError:
            return error.code, {"detail": body.decode(errors="replace")}
    except urllib.error.URLError as error:
        raise TaskError(f"cannot reach the gateway: {error.reason}") from error


def submit(base_url: str, endpoint: str, image: Path, fields: dict[str, object] | None = None) -> str:
    """Uploads the image to POST {base_url}/{endpoint} and returns the task id."""
    body, content_type = multipart_body(image, {k: v for k, v in (fields or {}).items() if v is not None})
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/{endpoint}", data=body, headers={"Content-Type": content_type}, method="POST"
    )
    status, answer = request_json(request, timeout=60)
    if status != 202:
        raise TaskError(f"{endpoint} refused the image (HTTP {status}): {answer.get('detail', answer)}")
    return answer["task_id"]


def wait_for_result(base_url: str, task_id: str, timeout: float) -> dict[str, Any]:
    """Reads GET /task_result/{task_id} until the task finishes; returns the task on SUCCESS.

    Long-polls with ?wait=10; a gateway that answers at once instead is simply polled twice a second.
    """
    deadline = time.monotonic() + timeout
    long_poll = True
    while True:
        wait = min(LONG_POLL_SECONDS, max(1, int(deadline - time.monotonic())))
        query = f"?wait={wait}" if long_poll else ""
        asked_at = time.monotonic()
        status, task = request_json(f"{base_url.rstrip('/')}/task_result/{task_id}{query}", timeout=wait + 30)
        if status in (400, 422) and long_poll:  # a gateway without ?wait: fall back to plain polling
            long_poll = False
            continue
        if status != 200:
            raise TaskError(f"task {task_id}: HTTP {status}: {task.get('detail', task)}")
        if task["status"] == "SUCCESS":
            return task
        if task["status"] == "FAILURE":
            raise TaskError(f"task {task_id} failed: {task.get('error', 'no reason given')}")
        if time.monotonic() >= deadline:
            raise TaskError(f"task {task_id} still {task['status']} after {timeout:g} s")
        if time.monotonic() - asked_at < 0.5:
            time.sleep(0.5)
