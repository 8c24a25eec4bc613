"""Helpers the face-service tests share: the documented reference boxes and box overlap."""

from __future__ import annotations

import json

import numpy as np

from face_detection_service.detection.geometry import iou_matrix
from face_detection_service.detection.types import Detections
from tests.gateway.helpers import iou

from .support import REFERENCE_RESULT


def reference_boxes() -> list[list[float]]:
    result = json.loads(REFERENCE_RESULT.read_text())["result"]
    return [face["facial_area"] for face in result.values()]


def found(truth: np.ndarray, faces: Detections, min_iou: float = 0.5) -> int:
    """How many of the ``truth`` boxes some face of ``faces`` overlaps by ``min_iou`` or more."""
    return int((iou_matrix(truth, faces.boxes).max(axis=1) >= min_iou).sum()) if len(faces) else 0


def best_iou_per_reference(found: list[list[float]]) -> list[float]:
    return [max((iou(ref, box) for box in found), default=0.0) for ref in reference_boxes()]


def decode(data: bytes) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, "the returned bytes are not a decodable image"
    return image
