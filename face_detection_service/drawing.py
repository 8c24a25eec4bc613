"""Boxes, scores and landmarks drawn on a copy of the image (the `draw` option of detect jobs)."""

from __future__ import annotations

import cv2
import numpy as np

from .detection.plates import Plates
from .detection.types import Detections
from .imaging import to_rgb8

BOX_COLOUR = (0, 200, 0)
PLATE_COLOUR = (255, 128, 0)  # BGR: blue, apart from the faces' green
LANDMARK_COLOURS = ((255, 0, 0), (0, 0, 255), (0, 255, 255), (255, 0, 255), (255, 255, 0))


def draw_detections(image: np.ndarray, detections: Detections, plates: Plates | None = None) -> np.ndarray:
    """An 8-bit BGR picture of the detections (and licence plates, in their own colour), with line widths that
    follow the image size."""
    canvas = cv2.cvtColor(to_rgb8(image), cv2.COLOR_RGB2BGR)
    thickness = max(1, round(max(canvas.shape[:2]) / 500))
    for box, score, landmarks in zip(detections.boxes, detections.scores, detections.landmarks, strict=True):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), BOX_COLOUR, thickness)
        cv2.putText(
            canvas,
            f"{score:.2f}",
            (x1, max(0, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4 * thickness,
            BOX_COLOUR,
            thickness,
        )
        for (x, y), colour in zip(landmarks, LANDMARK_COLOURS, strict=True):
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(canvas, (round(float(x)), round(float(y))), thickness + 1, colour, -1)
    if plates is not None:
        for box, score in zip(plates.boxes, plates.scores, strict=True):
            x1, y1, x2, y2 = (round(float(v)) for v in box)
            cv2.rectangle(canvas, (x1, y1), (x2, y2), PLATE_COLOUR, thickness)
            origin = (x1, min(canvas.shape[0] - 1, y2 + 12 * thickness))
            cv2.putText(
                canvas, f"{score:.2f}", origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thickness, PLATE_COLOUR, thickness
            )
    return canvas
