"""A task as the API shows it: the ``TaskResult`` model that /openapi.json publishes, filled from a stored record.

``GET /task_result`` and webhooks both send ``task_json(record)``, serialized through that model, so the
published schema and the output cannot drift apart. Pure; large images are encoded off the event loop by callers.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from gateway_service.tasks.models import TaskKind, TaskRecord, TaskStatus

_RESULT_SIBLINGS = (
    "face_count",
    "image_format",
    "image_width",
    "image_height",
    "model",
    "preset",
    "timings_ms",
    "gallery",
    "match_threshold",
    "plates",
    "plate_count",
    "plate_model",
)


class TaskResult(BaseModel):
    """A task's state; ``result`` appears on SUCCESS, ``error`` on FAILURE."""

    task_id: str
    status: TaskStatus
    kind: TaskKind
    created_at: str = Field(description="ISO 8601, UTC")
    started_at: str | None = Field(None, description="Start of the latest attempt")
    finished_at: str | None = None
    attempts: int = Field(description="Times the job was sent to a face service")
    options: dict[str, Any]
    result: dict[str, Any] | str | None = Field(
        None,
        description="detect: {face_1: {facial_area: [x1, y1, x2, y2], confidence, landmarks}, ...}; "
        "blur: the anonymized image, base64-encoded; embed: the faces, each with embedding and embedding_model; "
        "identify: the faces, each with matches and subject; verify: {same_person, similarity, threshold, face1, "
        "face2}; enroll: {face_id, gallery, subject, facial_area}; blur_video: {video_url, faces_url, frames, fps, "
        "duration_s, width, height, audio, audio_copied, tracks, ...}",
    )
    progress: dict[str, int] | None = Field(
        None, description="blur_video while it runs: {frames_done, frames_total} (detection and anonymization)"
    )
    faces: dict[str, Any] | None = Field(
        None,
        description="blur: the faces found; with spare_gallery / only_gallery each says whether it was anonymized "
        "and which subject it matched",
    )
    face_count: int | None = None
    drawn_image: str | None = Field(
        None, description="detect with draw=true: the image with the boxes and landmarks drawn, base64-encoded JPEG"
    )
    plates: dict[str, Any] | None = Field(
        None,
        description="detect and blur with plates=true: the licence plates found (blur: hidden), best first: "
        "{plate_1: {plate_area: [x1, y1, x2, y2], confidence}, ...}",
    )
    plate_count: int | None = None
    plate_model: str | None = Field(None, description="With plates=true: the plate model")
    image_format: str | None = Field(None, description="Format of the returned image: jpeg, png, ...")
    image_width: int | None = None
    image_height: int | None = None
    model: str | None = None
    preset: str | None = None
    timings_ms: dict[str, float] | None = None
    gallery: str | None = Field(None, description="identify, and blur with a gallery option: the gallery matched")
    match_threshold: float | None = Field(None, description="The similarity at or above which a face matched")
    error: str | None = None
    retry_reason: str | None = Field(None, description="PENDING after a problem: why the task waits")
    webhook: dict[str, Any] | None = Field(
        None,
        description="With a callback_url: {url, status: pending|sending|delivered|failed, attempts, error}",
    )


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_result(record: TaskRecord) -> TaskResult:
    body: dict[str, Any] = {
        "task_id": record.task_id,
        "status": record.status,
        "kind": record.kind,
        "created_at": iso_time(record.created_at),
        "started_at": iso_time(record.started_at),
        "finished_at": iso_time(record.finished_at),
        "attempts": record.attempts,
        "options": record.options.as_dict(),
    }
    if record.status is TaskStatus.SUCCESS and record.result is not None:
        stored = record.result
        image = base64.b64encode(record.result_image).decode("ascii") if record.result_image else None
        if record.kind is TaskKind.BLUR_VIDEO:
            body["result"] = stored["video"]
        elif record.kind is TaskKind.BLUR:
            body["result"] = image
            body["faces"] = stored["faces"]
        elif "answer" in stored:  # verify, enroll: an answer object
            body["result"] = stored["answer"]
        else:
            body["result"] = stored["faces"]
            body["drawn_image"] = image
        body.update({name: stored[name] for name in _RESULT_SIBLINGS if stored.get(name) not in (None, "")})
    elif record.status is TaskStatus.FAILURE:
        body["error"] = record.error or "unknown error"
    elif record.status is TaskStatus.PENDING and record.last_problem:
        body["retry_reason"] = record.last_problem
    if not record.status.is_final and record.frames_total is not None:
        body["progress"] = {"frames_done": record.frames_done or 0, "frames_total": record.frames_total}
    if record.callback_url:
        webhook = {
            "url": record.callback_url,
            "status": record.webhook_status or "pending",
            "attempts": record.webhook_attempts,
            "error": record.webhook_error or None,
        }
        body["webhook"] = {name: value for name, value in webhook.items() if value is not None}
    return TaskResult(**body)


def task_json(record: TaskRecord) -> bytes:
    return task_result(record).model_dump_json(exclude_none=True).encode()
