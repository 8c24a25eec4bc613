"""Response bodies, as the OpenAPI page at /docs shows them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from gateway_service.tasks.models import TaskKind, TaskStatus


class TaskAccepted(BaseModel):
    task_id: str = Field(description="Poll GET /task_result/{task_id} for the outcome.")


class ErrorBody(BaseModel):
    detail: str


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
        "blur: the anonymized image, base64-encoded",
    )
    faces: dict[str, Any] | None = Field(None, description="blur: the faces that were anonymized")
    face_count: int | None = None
    drawn_image: str | None = Field(
        None, description="detect with draw=true: the image with the boxes and landmarks drawn, base64-encoded JPEG"
    )
    image_format: str | None = Field(None, description="Format of the returned image: jpeg, png, ...")
    image_width: int | None = None
    image_height: int | None = None
    model: str | None = None
    preset: str | None = None
    timings_ms: dict[str, float] | None = None
    error: str | None = None
    retry_reason: str | None = Field(None, description="PENDING after a problem: why the task waits")
    webhook: dict[str, Any] | None = Field(
        None,
        description="With a callback_url: {url, status: pending|sending|delivered|failed, attempts, error}",
    )


class Readiness(BaseModel):
    status: str
    redis: str
    face_services: dict[str, str]
    dispatcher: str
    detail: str | None = None
