"""The face detector the service runs: a primary model, optionally CenterFace, and a preset of how to use them."""

from __future__ import annotations

import cv2
import numpy as np

from .centerface import CenterFaceModel
from .fusion import CENTERFACE_TO_YOLO, Pass, fuse
from .presets import Preset
from .tiling import TilePlan, plan_tiles, tile_to_image
from .types import Detections, FaceModel


class FaceDetector:
    def __init__(self, primary: FaceModel, input_size: int, centerface: FaceModel | None = None):
        self.primary = primary
        self.input_size = input_size
        self.centerface = centerface

    @property
    def name(self) -> str:
        return self.primary.name

    def fuses_centerface(self, preset: Preset) -> bool:
        return preset.fuse_centerface and self.centerface is not None and self.centerface is not self.primary

    def model_name(self, preset: Preset) -> str:
        if self.fuses_centerface(preset):
            return f"{self.primary.name} + {self.centerface.name}"
        return self.primary.name

    def tile_plan(self, width: int, height: int, preset: Preset) -> TilePlan | None:
        """The tiles `detect` would look at for an image of this size (after shrinking it to preset.max_side)."""
        shrink = min(1.0, preset.max_side / max(width, height))
        width, height = max(1, round(width * shrink)), max(1, round(height * shrink))
        return plan_tiles(width, height, self.input_size, preset.max_tiles, preset.tile_zoom)

    def detect(self, image_rgb: np.ndarray, preset: Preset, score_threshold: float | None = None) -> Detections:
        """Faces in `image_rgb` (pixel coordinates of that image), best first, above the threshold."""
        threshold = preset.score_threshold if score_threshold is None else score_threshold
        full_height, full_width = image_rgb.shape[:2]
        image = _resize(image_rgb, preset.max_side / max(full_width, full_height), shrink_only=True)
        height, width = image.shape[:2]

        passes = [Pass(self._run(self.primary, image, threshold))]
        plan = plan_tiles(width, height, self.input_size, preset.max_tiles, preset.tile_zoom)
        if plan is not None:
            zoomed = _resize_to(image, plan.scaled_width, plan.scaled_height)
            to_image = np.array([width / plan.scaled_width, height / plan.scaled_height], np.float32)
            for tile in plan.tiles:
                crop = zoomed[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width]
                found = tile_to_image(self._run(self.primary, crop, threshold), tile, plan, self.input_size)
                passes.append(Pass(found.rescaled(to_image, width, height)))
        if self.fuses_centerface(preset):
            # CenterFace is fully convolutional: one pass over the image at the tiles' scale sees what they see.
            scale = plan.scale if plan is not None else 1.0
            view = _resize_to(image, max(1, round(width * scale)), max(1, round(height * scale)))
            found = self._run(self.centerface, view, threshold)
            back = np.array([width / view.shape[1], height / view.shape[0]], np.float32)
            passes.append(Pass(found.rescaled(back, width, height), preferred=False))

        faces = fuse(passes)
        if (height, width) == (full_height, full_width):
            return faces
        to_full = np.array([full_width / width, full_height / height], np.float32)
        return faces.rescaled(to_full, full_width, full_height)

    @staticmethod
    def _run(model: FaceModel, image: np.ndarray, threshold: float) -> Detections:
        """One model pass with scores on the primary (YOLO) scale."""
        if isinstance(model, CenterFaceModel):
            found = model.detect(image, CENTERFACE_TO_YOLO.inverse(threshold))
            return Detections(found.boxes, CENTERFACE_TO_YOLO(found.scores), found.landmarks).above(threshold)
        return model.detect(image, threshold)


def _resize(image: np.ndarray, scale: float, shrink_only: bool = False) -> np.ndarray:
    if scale == 1.0 or (shrink_only and scale > 1.0):
        return image
    height, width = image.shape[:2]
    return _resize_to(image, max(1, round(width * scale)), max(1, round(height * scale)))


def _resize_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if (height, width) == image.shape[:2]:
        return image
    interpolation = cv2.INTER_AREA if width < image.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interpolation)
