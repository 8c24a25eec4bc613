"""FaceBlurClient: submit an image, wait for its task, read the faces and the anonymized image."""

from __future__ import annotations

import base64
import email.utils
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from faceblur_client.errors import ApiError, GatewayUnreachable, TaskFailed, TaskTimeout
from faceblur_client.multipart import encode_form

DEFAULT_URL = "http://127.0.0.1:8000"
JobKind = Literal["detect", "blur"]
ENDPOINTS: dict[str, str] = {"detect": "detect_faces", "blur": "blur_faces"}
FINAL_STATUSES = ("SUCCESS", "FAILURE")
# The gateway caps one long poll (GATEWAY_RESULT_WAIT_MAX_SECONDS, 30 by default); asking for more is harmless.
LONG_POLL_SECONDS = 30.0
# Answers that mean "busy, try again shortly"; anything else is final.
RETRYABLE_STATUSES = (429, 503)
RETRY_PAUSE_SECONDS = 1.0
FILE_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "bmp": ".bmp", "tiff": ".tif"}

ImageInput = bytes | str | Path


@dataclass(frozen=True)
class TaskOutcome:
    """A finished (SUCCESS) task as GET /task_result returns it, with the parts most callers want."""

    task: dict[str, Any]

    @property
    def task_id(self) -> str:
        return self.task["task_id"]

    @property
    def kind(self) -> str:
        return self.task["kind"]

    @property
    def faces(self) -> dict[str, Any]:
        """{"face_1": {"facial_area": [x1, y1, x2, y2], "confidence": ..., "landmarks": {...}}, ...}"""
        faces = self.task.get("faces") if self.kind == "blur" else self.task.get("result")
        return faces or {}

    @property
    def face_count(self) -> int:
        return int(self.task.get("face_count", len(self.faces)))

    @property
    def image(self) -> bytes | None:
        """blur: the anonymized image; detect with draw=True: the image with the faces drawn; else None."""
        encoded = self.task.get("result") if self.kind == "blur" else self.task.get("drawn_image")
        return base64.b64decode(encoded) if isinstance(encoded, str) else None

    @property
    def image_format(self) -> str:
        return self.task.get("image_format") or "jpeg"

    @property
    def file_extension(self) -> str:
        return FILE_EXTENSIONS.get(self.image_format, f".{self.image_format}")

    def save(self, path: str | Path) -> Path:
        """Write the returned image to `path`; raises ValueError when the task returned none."""
        image = self.image
        if image is None:
            raise ValueError(f"task {self.task_id} returned no image (only blur, or detect with draw=True, do)")
        target = Path(path)
        target.write_bytes(image)
        return target

    def summary(self) -> dict[str, Any]:
        """The task without its base64 image(s): small enough to print or log."""
        return {
            name: (
                f"<{len(value) * 3 // 4} bytes, base64>"
                if name in ("result", "drawn_image") and isinstance(value, str)
                else value
            )
            for name, value in self.task.items()
        }


class FaceBlurClient:
    """Talks to one FaceBlur gateway. Thread-safe: it keeps no connection state, so one instance can serve
    many threads at once."""

    def __init__(
        self, url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 300.0, request_timeout: float = 60.0
    ) -> None:
        """`timeout`: default seconds to wait for a task to finish; `request_timeout`: for each HTTP request."""
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.request_timeout = request_timeout

    # --- one call each ---------------------------------------------------------------------------------------

    def submit(self, kind: JobKind, image: ImageInput, filename: str | None = None, **options: object) -> str:
        """Upload the image for `kind` ("detect" or "blur") and return the task id. Options left as None
        take the service's defaults: threshold, preset, draw (detect); mode, mask, box_scale (blur)."""
        return self._submit_files(kind, [_image_bytes(image, filename)], options)[0]

    def submit_many(self, kind: JobKind, images: Sequence[ImageInput], **options: object) -> list[str]:
        """Upload several images in one request (at most the gateway's GATEWAY_MAX_FILES_PER_REQUEST, 32 by
        default); one task each, ids in the same order. A bad image refuses the whole request (ApiError)."""
        return self._submit_files(kind, [_image_bytes(image, None) for image in images], options)

    def _submit_files(self, kind: JobKind, files: list[tuple[bytes, str]], options: dict[str, object]) -> list[str]:
        if kind not in ENDPOINTS:
            raise ValueError(f"kind must be 'detect' or 'blur', not {kind!r}")
        body, content_type = encode_form(options, [(name, data) for data, name in files])
        answer = self._request("POST", ENDPOINTS[kind], body=body, content_type=content_type, retry_busy=True)
        return answer.get("task_ids") or [answer["task_id"]]

    def task(self, task_id: str, wait: float = 0) -> dict[str, Any]:
        """The task's current state; with `wait`, the gateway holds the answer until it finishes or `wait`
        seconds pass."""
        path = f"task_result/{urllib.parse.quote(task_id, safe='')}"
        if wait > 0:
            path += f"?wait={wait:g}"
        return self._request("GET", path, timeout=self.request_timeout + wait)

    def wait(self, task_id: str, timeout: float | None = None) -> TaskOutcome:
        """Long-poll until the task finishes. Raises TaskFailed or TaskTimeout."""
        seconds = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            task = self.task(task_id, wait=max(0.0, min(LONG_POLL_SECONDS, round(remaining, 1))))
            if task["status"] == "SUCCESS":
                return TaskOutcome(task)
            if task["status"] == "FAILURE":
                raise TaskFailed(task_id, task.get("error") or "the task failed (no reason given)")
            if deadline - time.monotonic() <= 0:
                raise TaskTimeout(task_id, task["status"], seconds)

    # --- submit and wait -------------------------------------------------------------------------------------

    def detect(
        self,
        image: ImageInput,
        *,
        threshold: float | None = None,
        preset: str | None = None,
        draw: bool = False,
        filename: str | None = None,
        timeout: float | None = None,
    ) -> TaskOutcome:
        """Find the faces; with `draw`, the outcome's image shows them (boxes and landmarks)."""
        task_id = self.submit(
            "detect", image, filename, threshold=threshold, preset=preset, draw=True if draw else None
        )
        return self.wait(task_id, timeout)

    def blur(
        self,
        image: ImageInput,
        *,
        threshold: float | None = None,
        preset: str | None = None,
        mode: str | None = None,
        mask: str | None = None,
        box_scale: float | None = None,
        filename: str | None = None,
        timeout: float | None = None,
    ) -> TaskOutcome:
        """Anonymize the faces: `mode` blur, pixelate or solid; `mask` ellipse or box; `box_scale` 1..2."""
        task_id = self.submit(
            "blur", image, filename, threshold=threshold, preset=preset, mode=mode, mask=mask, box_scale=box_scale
        )
        return self.wait(task_id, timeout)

    # --- HTTP ------------------------------------------------------------------------------------------------

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "faceblur-client"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
        retry_busy: bool = False,
    ) -> dict[str, Any]:
        url = f"{self.url}/{path}"
        give_up_at = time.monotonic() + self.timeout
        while True:
            request = urllib.request.Request(url, data=body, headers=self._headers(content_type), method=method)
            try:
                with urllib.request.urlopen(request, timeout=timeout or self.request_timeout) as response:
                    return json.load(response)
            except urllib.error.HTTPError as error:
                pause = _retry_after(error.headers.get("Retry-After"))
                if retry_busy and error.code in RETRYABLE_STATUSES and time.monotonic() + pause < give_up_at:
                    error.close()
                    time.sleep(pause)
                    continue
                raise ApiError(error.code, _error_detail(error)) from None
            except urllib.error.URLError as error:
                raise GatewayUnreachable(f"cannot reach the FaceBlur gateway at {self.url}: {error.reason}") from None
            except (TimeoutError, ConnectionError) as error:
                raise GatewayUnreachable(f"no answer from the FaceBlur gateway at {self.url}: {error}") from None
            except json.JSONDecodeError:
                raise GatewayUnreachable(f"{url} did not answer with JSON: is this a FaceBlur gateway?") from None


def _image_bytes(image: ImageInput, filename: str | None) -> tuple[bytes, str]:
    if isinstance(image, bytes | bytearray):
        return bytes(image), filename or "image"
    path = Path(image)
    return path.read_bytes(), filename or path.name


def _error_detail(error: urllib.error.HTTPError) -> str:
    raw = error.read()
    error.close()
    try:
        detail = json.loads(raw).get("detail", raw.decode(errors="replace"))
    except (ValueError, AttributeError):
        return raw.decode(errors="replace").strip() or error.reason
    if isinstance(detail, list):  # FastAPI's validation errors: [{"loc": [...], "msg": ...}, ...]
        return "; ".join(
            f"{'.'.join(str(part) for part in item.get('loc', [])[1:]) or 'request'}: {item.get('msg', item)}"
            for item in detail
        )
    return str(detail)


def _retry_after(header: str | None) -> float:
    """Seconds to pause as a Retry-After header says (seconds or an HTTP date); 1 s when absent or odd."""
    if not header:
        return RETRY_PAUSE_SECONDS
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(header).timestamp() - time.time())
    except (TypeError, ValueError):
        return RETRY_PAUSE_SECONDS
