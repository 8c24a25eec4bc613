"""Where anonymizing must leave a picture alone: the complement of anonymize.touched_regions."""

from __future__ import annotations

import numpy as np

from face_detection_service.anonymize import AnonymizeOptions, touched_regions


def untouched(boxes: np.ndarray, options: AnonymizeOptions, height: int, width: int) -> np.ndarray:
    """[height, width] booleans: True where no face's touched region reaches."""
    outside = np.ones((height, width), bool)
    for x1, y1, x2, y2 in touched_regions(boxes, options, width, height):
        outside[y1:y2, x1:x2] = False
    return outside
