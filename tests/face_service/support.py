"""Real face-service processes on free ports, with the real model, and the shared reference data."""

from __future__ import annotations

import os
from pathlib import Path

from tests.stack import REFERENCE_DETECTIONS as REFERENCE_RESULT
from tests.stack import REFERENCE_IMAGE, SHARED, FaceService

__all__ = ["MODEL", "REFERENCE_IMAGE", "REFERENCE_RESULT", "FaceServiceProcess"]

MODEL = SHARED / "models" / "yolov8n-face_int8.tflite"


class FaceServiceProcess(FaceService):
    """A face service (tests/stack.py) with this folder's model, started at once, logging into TMPDIR."""

    def __init__(self, **env: str) -> None:
        super().__init__(Path(os.environ.get("TMPDIR", "/tmp")), **({"FACE_MODEL": str(MODEL)} | env))
        self.log_path.unlink(missing_ok=True)  # a log left by an earlier run on the same port
        self.start()

    def log(self) -> str:
        return self.log_path.read_text()

    def terminate(self, timeout: float = 30) -> int | None:
        return self.stop(timeout)
