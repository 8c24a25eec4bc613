"""Helpers the face-service tests share: the documented reference boxes and box overlap."""

from __future__ import annotations

import json

import numpy as np

from tests.gateway.helpers import iou

from .support import REFERENCE_RESULT


def reference_boxes() -> list[list[float]]:
    result = json.loads(REFERENCE_RESULT.read_text())["result"]
    return [face["facial_area"] for face in result.values()]


def best_iou_per_reference(found: list[list[float]]) -> list[float]:
    return [max((iou(ref, box) for box in found), default=0.0) for ref in reference_boxes()]


def decode(data: bytes) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, "the returned bytes are not a decodable image"
    return image
