"""The face detector the service runs: a primary model, optionally CenterFace, and a preset of how to use them."""

from __future__ import annotations

import cv2
import numpy as np

from .fusion import merge
from .presets import Preset
from .tiling import plan_tiles, tile_to_image
from .types import Detections, FaceModel


class FaceDetector:
    def __init__(self, primary: FaceModel, input_size: int, centerface: FaceModel | None = None):
        self.primary = primary
        self.input_size = input_size
        self.centerface = centerface

    @property
    def name(self) -> str:
        return self.primary.name

    def model_name(self, preset: Preset) -> str:
        if preset.fuse_centerface and self.centerface is not None and self.centerface is not self.primary:
            return f"{self.primary.name} + {self.centerface.name}"
        return self.primary.name

    def uses_tiles(self, width: int, height: int, preset: Preset) -> bool:
        return preset.tile and max(width, height) > self.input_size * preset.tile_trigger

    def detect(self, image_rgb: np.ndarray, preset: Preset, score_threshold: float | None = None) -> Detections:
        """Faces in `image_rgb` (pixel coordinates of that image), best first, above the threshold."""
        threshold = preset.score_threshold if score_threshold is None else score_threshold
        full_height, full_width = image_rgb.shape[:2]
        shrink = min(1.0, preset.max_side / max(full_width, full_height))
        if shrink < 1.0:
            size = (max(1, round(full_width * shrink)), max(1, round(full_height * shrink)))
            image_rgb = cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA)
        height, width = image_rgb.shape[:2]
        passes = [self.primary.detect(image_rgb, threshold)]
        if self.uses_tiles(width, height, preset):
            for tile in plan_tiles(width, height, self.input_size, preset.tile_overlap):
                crop = image_rgb[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width]
                passes.append(tile_to_image(self.primary.detect(crop, threshold), tile, width, height))
        if preset.fuse_centerface and self.centerface is not None and self.centerface is not self.primary:
            cf_threshold = preset.centerface_threshold if score_threshold is None else score_threshold
            passes.append(self.centerface.detect(image_rgb, cf_threshold))
        merged = merge(passes)
        if shrink == 1.0:
            return merged
        to_full = np.array([full_width / width, full_height / height], np.float32)
        return merged.rescaled(to_full, full_width, full_height)
