"""``GET /metrics``: the gateway's Prometheus metrics, with the job queue's depth read from Redis right now."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway_service.api.deps import Services
from gateway_service.metrics import FACE_VECTORS, set_queue_depth

router = APIRouter(tags=["health"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: Services) -> Response:
    set_queue_depth(*await services.store.queue_depth())
    FACE_VECTORS.set(await services.galleries.vector_count())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
