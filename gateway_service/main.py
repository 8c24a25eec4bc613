"""The gateway's FastAPI application: ``create_app()`` wires settings, Redis, the routes and the dispatcher.

Run it with ``python -m gateway_service`` or ``uvicorn --factory gateway_service.main:create_app``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from faceblur_proto.media_store import MediaStoreError
from gateway_service.access import AccessMiddleware, access_control
from gateway_service.api.deps import GatewayServices
from gateway_service.api.routes import health, metrics, recognition, tasks, video
from gateway_service.core.config import Settings, get_settings
from gateway_service.core.face_addresses import FaceReplicas, Resolver
from gateway_service.core.logging import configure_logging
from gateway_service.dispatcher.consumer import Dispatcher
from gateway_service.galleries.store import GalleryStore
from gateway_service.readiness import ReadinessChecker
from gateway_service.tasks.store import TaskStore
from gateway_service.tasks.waiter import CompletionNotifier
from gateway_service.uploads import UploadSizeLimitMiddleware
from gateway_service.video.storage import VideoMedia

log = logging.getLogger(__name__)

DESCRIPTION = """
Asynchronous face detection and anonymization. Upload an image to `POST /detect_faces` or `POST /blur_faces`
(multipart field `file`); the answer is a task id at once (HTTP 202). Read the outcome with
`GET /task_result/{task_id}`, either by polling or with `?wait=S` to be answered as soon as the task finishes.
"""


def create_app(settings: Settings | None = None, resolve: Resolver | None = None) -> FastAPI:
    """The app; ``resolve`` looks up the face services' ``dns:///`` names (default: the system's resolver)."""
    settings = settings or get_settings()
    if not logging.getLogger().handlers:
        configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = TaskStore.from_settings(settings)
        redis, keys = store.redis, store.keys
        galleries = GalleryStore(redis, keys)
        notifier = CompletionNotifier(redis, keys)
        # One view of the face services for the readiness checks and the dispatcher: resolved once, every
        # GATEWAY_FACE_RESOLVE_SECONDS.
        replicas = FaceReplicas.from_settings(settings, resolve)
        media = VideoMedia.from_settings(settings)
        readiness = ReadinessChecker(redis, replicas, media.store, settings.ready_timeout_seconds)
        dispatcher = (
            Dispatcher(settings, store, galleries=galleries, replicas=replicas) if settings.run_dispatcher else None
        )
        app.state.services = GatewayServices(
            settings=settings,
            store=store,
            galleries=galleries,
            notifier=notifier,
            readiness=readiness,
            media=media,
            dispatcher_consumer=dispatcher.consumer if dispatcher else None,
        )
        notifier.start()
        await replicas.start()
        if dispatcher is not None:
            await dispatcher.start()
        try:
            yield
        finally:
            if dispatcher is not None:
                await dispatcher.stop(settings.shutdown_grace_seconds)
            await notifier.stop()
            await replicas.close()
            await readiness.close()
            await redis.aclose()

    app = FastAPI(title="FaceBlur gateway", version="1.0.0", description=DESCRIPTION, lifespan=lifespan)
    # Every POST is an upload, so every one is cut off at its limit: videos at theirs, images at the upload limit.
    app.add_middleware(UploadSizeLimitMiddleware, limit_bytes=settings.max_upload_bytes, exclude=video.UPLOAD_PATHS)
    app.add_middleware(
        UploadSizeLimitMiddleware,
        limit_bytes=settings.video_max_bytes,
        paths=video.UPLOAD_PATHS,
        setting="GATEWAY_VIDEO_MAX_BYTES",
    )
    app.add_middleware(AccessMiddleware, **access_control(settings))
    app.include_router(tasks.router)
    app.include_router(recognition.router)
    app.include_router(video.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_exception_handler(RedisError, _redis_unavailable)
    app.add_exception_handler(MediaStoreError, _media_store_unavailable)
    return app


async def _media_store_unavailable(request: Request, error: Exception) -> JSONResponse:
    """The media store did not answer or refused (its reason names it): not the caller's fault, try later."""
    reason = error.reason if isinstance(error, MediaStoreError) else str(error)
    log.warning("media store error on %s %s: %s", request.method, request.url.path, reason)
    return JSONResponse({"detail": f"the media store is unavailable: {reason}"}, status_code=503)


async def _redis_unavailable(request: Request, error: Exception) -> JSONResponse:
    log.warning("Redis error on %s %s: %s", request.method, request.url.path, error)
    return JSONResponse({"detail": f"the task store (Redis) is unavailable: {error}"}, status_code=503)
