"""YOLOv8-face: one decode path for every weight format.

The backends in `runtimes.py` only run the network; everything around it lives here: letterbox the image to the
network's square input, keep candidates above the score, map boxes and landmarks back to the original pixels,
clip them to the image, and suppress overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import clip_boxes, nms
from .runtimes import NetworkRunner
from .types import Detections


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the network input: resized by `scale`, then padded."""

    scale: float
    pad_x: float
    pad_y: float

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Map [..., 2] points from network input pixels back to the original image."""
        return (xy - np.array([self.pad_x, self.pad_y], np.float32)) / self.scale


LETTERBOX_PAD_VALUE = 114  # the grey around a letterboxed image
Size = int | tuple[int, int]  # a network input: a square's side, or (width, height)


def input_shape(size: Size) -> tuple[int, int]:
    """(width, height) of a network input."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def letterbox(image_rgb: np.ndarray, size: Size) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio to fit a `size` square (or a (width, height) input), centre it on a grey
    canvas of that size."""
    canvas_w, canvas_h = input_shape(size)
    height, width = image_rgb.shape[:2]
    scale = min(canvas_h / height, canvas_w / width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image_rgb, (new_w, new_h), interpolation=interpolation) if scale != 1 else image_rgb
    pad_x, pad_y = (canvas_w - new_w) / 2, (canvas_h - new_h) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = cv2.copyMakeBorder(
        resized,
        top,
        canvas_h - new_h - top,
        left,
        canvas_w - new_w - left,
        cv2.BORDER_CONSTANT,
        value=(LETTERBOX_PAD_VALUE,) * 3,
    )
    return canvas, Letterbox(scale, float(left), float(top))


NMS_IOU = 0.45  # a candidate overlapping a better-scored one this much is the same face


def decode_predictions(
    predictions: np.ndarray,
    fit: Letterbox,
    input_size: int,
    normalized: bool,
    min_score: float,
    width: int,
    height: int,
) -> Detections:
    """Turn the raw [4 + 1 + 15, N] output (cx, cy, w, h, score, 5 x (x, y, visibility)) into Detections."""
    scores = predictions[4]
    candidates = np.flatnonzero(scores >= min_score)
    if candidates.size == 0:
        return Detections.empty()
    rows = predictions[:, candidates].T.astype(np.float32)
    if normalized:
        rows[:, :4] *= input_size
        rows[:, 5::3] *= input_size
        rows[:, 6::3] *= input_size
    centre, size = rows[:, 0:2], rows[:, 2:4]
    corners = np.concatenate([fit.to_original(centre - size / 2), fit.to_original(centre + size / 2)], axis=1)
    landmarks = np.full((len(rows), 5, 2), np.nan, np.float32)
    if rows.shape[1] >= 20:
        landmarks = fit.to_original(np.stack([rows[:, 5::3], rows[:, 6::3]], axis=2))
    boxes = clip_boxes(corners, width, height)
    keep = nms(boxes, rows[:, 4], NMS_IOU)
    return Detections(boxes[keep], rows[keep, 4], landmarks[keep].astype(np.float32))


class YoloFaceModel:
    """A YOLOv8-face network (any runtime) that finds faces in an RGB image of any size in one pass."""

    def __init__(self, runner: NetworkRunner, name: str):
        self.runner = runner
        self.name = name

    @property
    def input_size(self) -> int:
        return self.runner.input_size

    def detect(self, image_rgb: np.ndarray, min_score: float) -> Detections:
        height, width = image_rgb.shape[:2]
        canvas, fit = letterbox(image_rgb, self.runner.input_size)
        predictions = self.runner.run(canvas)
        return decode_predictions(
            predictions, fit, self.runner.input_size, self.runner.normalized_output, min_score, width, height
        )
