"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway_service.api.deps import Services
from gateway_service.api.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Redis or every face service is down"}},
    summary="Redis and a face service are reachable",
)
async def readyz(services: Services) -> JSONResponse:
    report = await services.readiness.check()
    problems = report.problems()
    body = Readiness(
        status="ready" if report.ready else "not ready",
        redis=report.redis,
        face_services=report.face_services,
        media_store=report.media_store,
        dispatcher=(
            f"running in this process as {services.dispatcher_consumer}"
            if services.dispatcher_consumer
            else "not in this process (GATEWAY_RUN_DISPATCHER=false)"
        ),
        detail="; ".join(problems) or None,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=200 if report.ready else 503)
