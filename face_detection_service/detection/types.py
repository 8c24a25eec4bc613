"""What every detector returns, and the one interface the service needs from a detector."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

MIRRORED_LANDMARKS = [1, 0, 2, 4, 3]  # each landmark's counterpart in a left-right flipped image


@dataclass(frozen=True)
class Detections:
    """Faces found in one image, in that image's pixel coordinates.

    boxes: float32 [N, 4] as x1, y1, x2, y2; scores: float32 [N]; landmarks: float32 [N, 5, 2] (NaN when unknown).
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray = field(default_factory=lambda: np.full((0, 5, 2), np.nan, np.float32))

    @staticmethod
    def empty() -> Detections:
        return Detections(
            np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.full((0, 5, 2), np.nan, np.float32)
        )

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, keep: np.ndarray) -> Detections:
        return Detections(self.boxes[keep], self.scores[keep], self.landmarks[keep])

    def above(self, threshold: float) -> Detections:
        return self.select(self.scores >= threshold)

    def rescaled(self, factor_xy: np.ndarray, width: int, height: int) -> Detections:
        """Coordinates multiplied by (fx, fy), boxes clipped to a width x height image."""
        boxes = (self.boxes.reshape(-1, 2, 2) * factor_xy).reshape(-1, 4)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return Detections(boxes.astype(np.float32), self.scores, (self.landmarks * factor_xy).astype(np.float32))

    def mirrored(self, width: int) -> Detections:
        """These faces as seen in the image flipped left to right (`width` px wide): left eye becomes right eye."""
        boxes = self.boxes.copy()
        boxes[:, [0, 2]] = width - self.boxes[:, [2, 0]]
        landmarks = self.landmarks[:, MIRRORED_LANDMARKS].copy()
        landmarks[..., 0] = width - landmarks[..., 0]
        return Detections(boxes, self.scores, landmarks)

    def sorted_by_position(self) -> Detections:
        """Left to right, then top to bottom: a stable order users can rely on (face_1 is the leftmost)."""
        order = np.lexsort((self.boxes[:, 1], self.boxes[:, 0])) if len(self) else np.zeros(0, np.int64)
        return self.select(order)

    @staticmethod
    def concat(parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Detections.empty()
        return Detections(
            np.concatenate([p.boxes for p in parts]).astype(np.float32),
            np.concatenate([p.scores for p in parts]).astype(np.float32),
            np.concatenate([p.landmarks for p in parts]).astype(np.float32),
        )


class FaceModel(Protocol):
    """A loaded face model: one forward pass over one image (any size), candidates above `min_score`."""

    name: str

    def detect(self, image_rgb: np.ndarray, min_score: float) -> Detections: ...
