"""Response bodies, as the OpenAPI page at /docs shows them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gateway_service.tasks.render import TaskResult

__all__ = ["ErrorBody", "Readiness", "TaskAccepted", "TaskResult"]


class TaskAccepted(BaseModel):
    task_id: str | None = Field(None, description="One image: poll GET /task_result/{task_id} for the outcome.")
    task_ids: list[str] | None = Field(None, description="Several images: one task each, in the order sent.")


class ErrorBody(BaseModel):
    detail: str


class Readiness(BaseModel):
    status: str
    redis: str
    face_services: dict[str, str]
    dispatcher: str
    media_store: str = "ok"  # or why videos cannot be stored now (not a reason to be unready: images go on)
    detail: str | None = None
