"""The face detection service's settings, read once from environment variables (documented in the README)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .detection.presets import DEFAULT_PRESET

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT.parent / "shared" / "models" / "yolov8n-face_int8.tflite"


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Settings:
    model_path: Path | None  # FACE_MODEL: .tflite, .onnx or .pt YOLOv8-face weights; CenterFace if missing
    host: str  # FACE_GRPC_HOST
    port: int  # FACE_GRPC_PORT
    workers: int  # FACE_WORKERS: jobs run at once (one model instance each)
    threads_per_worker: int  # FACE_THREADS_PER_WORKER: intra-op threads of each model instance
    queue_size: int  # FACE_QUEUE_SIZE: jobs waiting for a worker before new ones get RESOURCE_EXHAUSTED
    max_image_bytes: int  # FACE_MAX_IMAGE_BYTES
    max_pixels: int  # FACE_MAX_PIXELS
    max_message_bytes: int  # FACE_MAX_MESSAGE_BYTES: largest single gRPC message (clients send 1 MiB chunks)
    default_preset: str  # FACE_DEFAULT_PRESET
    metrics_port: int  # FACE_METRICS_PORT: Prometheus metrics over HTTP; 0 turns it off
    shutdown_grace_seconds: float  # FACE_SHUTDOWN_GRACE_SECONDS: time jobs in flight get to finish on SIGTERM

    @staticmethod
    def from_env() -> Settings:
        cores = os.cpu_count() or 1
        model = os.environ.get("FACE_MODEL", str(DEFAULT_MODEL))
        model_path = Path(model).expanduser().resolve() if model else None
        return Settings(
            model_path=model_path,
            host=os.environ.get("FACE_GRPC_HOST", "127.0.0.1"),
            port=_int("FACE_GRPC_PORT", 50051),
            workers=_int("FACE_WORKERS", cores),
            threads_per_worker=_int("FACE_THREADS_PER_WORKER", 1),
            queue_size=_int("FACE_QUEUE_SIZE", 64),
            max_image_bytes=_int("FACE_MAX_IMAGE_BYTES", 50 * 1024 * 1024),
            max_pixels=_int("FACE_MAX_PIXELS", 50_000_000),
            max_message_bytes=_int("FACE_MAX_MESSAGE_BYTES", 8 * 1024 * 1024),
            default_preset=os.environ.get("FACE_DEFAULT_PRESET", DEFAULT_PRESET),
            metrics_port=_int("FACE_METRICS_PORT", 0),
            shutdown_grace_seconds=float(os.environ.get("FACE_SHUTDOWN_GRACE_SECONDS", 30)),
        )
