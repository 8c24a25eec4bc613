"""What a task is: its kind, the options the user chose, its status and the record kept in Redis.

Kinds and option values are the API's vocabulary (faceblur_proto.vocabulary), shared with the face service.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any

from faceblur_proto.vocabulary import Mask, Mode, PresetName, TaskKind

__all__ = ["JobOptions", "Mask", "Mode", "PresetName", "TaskKind", "TaskRecord", "TaskStatus", "WebhookStatus"]


class TaskStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"

    @property
    def is_final(self) -> bool:
        return self in (TaskStatus.SUCCESS, TaskStatus.FAILURE)


@dataclass(frozen=True)
class JobOptions:
    """Per-job options; None means the face service's default."""

    threshold: float | None = None
    preset: PresetName | None = None
    mode: Mode | None = None
    mask: Mask | None = None
    box_scale: float | None = None
    draw: bool = False
    max_size: int | None = None
    min_face_size: int | None = None
    max_faces: int | None = None
    # Recognition: the gallery (and subject) a task reads or writes, and how it matches.
    gallery: str | None = None
    subject: str | None = None
    face: str | None = None  # verify's first image, enroll: "main" (None: the default) or "largest"
    files: tuple[str, ...] | None = None  # enroll: the uploaded files' names, to name one in a refusal
    k: int | None = None  # identify: matches per face
    match_threshold: float | None = None  # identify: the lowest similarity that names a subject
    spare_gallery: str | None = None  # blur: faces matched to this gallery stay visible
    only_gallery: str | None = None  # blur: only faces matched to this gallery are hidden
    crf: int | None = None  # blur_video: the output's x264 quality (default GATEWAY_VIDEO_CRF)
    plates: bool = False  # detect, blur, blur_video: also find (and hide) licence plates
    plate_threshold: float | None = None  # their confidence threshold (None: the face service's)

    def as_dict(self) -> dict[str, object]:
        """The options the user chose (defaults left out), as the API shows them."""
        return {k: v.value if isinstance(v, Enum) else v for k, v in self._chosen().items()}

    def merged(self, other: JobOptions) -> JobOptions:
        """These options with the ones ``other`` chose in their place."""
        return replace(self, **other._chosen())

    def _chosen(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}

    def to_json(self) -> str:
        return json.dumps(self.as_dict())

    @classmethod
    def from_json(cls, text: str) -> JobOptions:
        stored = json.loads(text) if text else {}
        return cls(**{name: _stored_option(name, value) for name, value in stored.items()})


_ENUM_OPTIONS: dict[str, type[Enum]] = {"preset": PresetName, "mode": Mode, "mask": Mask}


def _stored_option(name: str, value: Any) -> Any:
    """An option as read back from JSON: enums by value, the files' names as a tuple (JSON keeps a list)."""
    if name in _ENUM_OPTIONS:
        return _ENUM_OPTIONS[name](value)
    return tuple(value) if name == "files" else value


@dataclass(frozen=True)
class TaskRecord:
    """One task as stored in its Redis hash. Timestamps are Unix seconds."""

    task_id: str
    kind: TaskKind
    status: TaskStatus
    options: JobOptions
    created_at: float
    image_format: str = ""
    image_bytes: int = 0
    owner: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    waiting_since: float | None = None
    last_problem: str = ""
    result: dict | None = None
    result_image: bytes | None = None
    error: str | None = None
    callback_url: str = ""
    webhook_status: str = ""
    webhook_attempts: int = 0
    webhook_error: str = ""
    # Video tasks while they run: frames processed and in all (None before the first progress report).
    frames_done: int | None = None
    frames_total: int | None = None


class WebhookStatus(str, Enum):
    PENDING = "pending"  # the task is not finished yet
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


def record_from_hash(task_id: str, fields: dict[bytes, bytes]) -> TaskRecord:
    """Parse a task hash as read from Redis (bytes keys and values)."""
    text = {k.decode(): v for k, v in fields.items()}

    def string(name: str) -> str | None:
        value = text.get(name)
        return value.decode() if value is not None else None

    def number(name: str) -> float | None:
        value = string(name)
        return float(value) if value else None

    result_json = string("result")
    return TaskRecord(
        task_id=task_id,
        kind=TaskKind(string("kind")),
        status=TaskStatus(string("status")),
        options=JobOptions.from_json(string("options") or ""),
        created_at=float(string("created_at") or 0),
        image_format=string("image_format") or "",
        image_bytes=int(string("image_bytes") or 0),
        owner=string("owner") or "",
        started_at=number("started_at"),
        finished_at=number("finished_at"),
        attempts=int(string("attempts") or 0),
        waiting_since=number("waiting_since"),
        last_problem=string("last_problem") or "",
        result=json.loads(result_json) if result_json else None,
        result_image=text.get("result_image") or None,
        error=string("error"),
        callback_url=string("callback_url") or "",
        webhook_status=string("webhook_status") or "",
        webhook_attempts=int(string("webhook_attempts") or 0),
        webhook_error=string("webhook_error") or "",
        frames_done=_integer(string("frames_done")),
        frames_total=_integer(string("frames_total")),
    )


def _integer(value: str | None) -> int | None:
    return int(value) if value else None
