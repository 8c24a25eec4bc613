"""What route handlers get injected: the process-wide services and the caller's identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway_service.core.config import Settings
from gateway_service.galleries.store import GalleryStore
from gateway_service.readiness import ReadinessChecker
from gateway_service.tasks.store import TaskStore
from gateway_service.tasks.waiter import CompletionNotifier
from gateway_service.video.storage import VideoMedia


@dataclass
class GatewayServices:
    """Created once in the app's lifespan and kept on ``app.state.services``."""

    settings: Settings
    store: TaskStore
    galleries: GalleryStore
    notifier: CompletionNotifier
    readiness: ReadinessChecker
    media: VideoMedia  # the media store of video uploads, their work files and results
    dispatcher_consumer: str | None = None


@dataclass(frozen=True)
class Caller:
    """Who sent the request. ``owner`` is stored with each task, and only that owner may read it.

    Everyone is anonymous (owner "") unless API keys are configured; then it is the SHA-256 of the caller's
    key, set by ``AccessMiddleware``.
    """

    owner: str = ""


def get_services(request: Request) -> GatewayServices:
    return request.app.state.services


def get_caller(request: Request) -> Caller:
    return Caller(owner=request.scope.get("state", {}).get("owner", ""))


Services = Annotated[GatewayServices, Depends(get_services)]
CurrentCaller = Annotated[Caller, Depends(get_caller)]
