"""Turn a stored task into the JSON the API returns (pure; large images are encoded off the event loop)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

from gateway_service.tasks.models import TaskKind, TaskRecord, TaskStatus

_RESULT_SIBLINGS = ("face_count", "image_format", "image_width", "image_height", "model", "preset", "timings_ms")


def iso_time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_body(record: TaskRecord) -> dict:
    body: dict = {
        "task_id": record.task_id,
        "status": record.status.value,
        "kind": record.kind.value,
        "created_at": iso_time(record.created_at),
        "started_at": iso_time(record.started_at),
        "finished_at": iso_time(record.finished_at),
        "attempts": record.attempts,
        "options": json.loads(record.options.to_json()),
    }
    if record.status is TaskStatus.SUCCESS and record.result is not None:
        stored = record.result
        image = base64.b64encode(record.result_image).decode("ascii") if record.result_image else None
        if record.kind is TaskKind.BLUR:
            body["result"] = image
            body["faces"] = stored["faces"]
        else:
            body["result"] = stored["faces"]
            if image is not None:
                body["drawn_image"] = image
        body.update({name: stored[name] for name in _RESULT_SIBLINGS if stored.get(name) not in (None, "")})
    elif record.status is TaskStatus.FAILURE:
        body["error"] = record.error or "unknown error"
    elif record.status is TaskStatus.PENDING and record.last_problem:
        body["retry_reason"] = record.last_problem
    if record.callback_url:
        webhook = {
            "url": record.callback_url,
            "status": record.webhook_status or "pending",
            "attempts": record.webhook_attempts,
            "error": record.webhook_error or None,
        }
        body["webhook"] = {name: value for name, value in webhook.items() if value is not None}
    return {name: value for name, value in body.items() if value is not None}


def task_json(record: TaskRecord) -> bytes:
    return json.dumps(task_body(record), separators=(",", ":")).encode()
