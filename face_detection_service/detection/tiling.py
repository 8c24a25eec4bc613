"""Overlapping tiles for images larger than the model input, so small faces are seen at full resolution."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .types import Detections

EDGE_MARGIN = 2.0  # px: a detection this close to an inner tile edge is probably cut off by it


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    width: int
    height: int


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile * (1 - overlap))) + 1
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def plan_tiles(width: int, height: int, tile_size: int, overlap: float) -> list[Tile]:
    """Tiles of at most tile_size x tile_size covering the image, neighbours overlapping by at least `overlap`."""
    return [
        Tile(x, y, min(tile_size, width), min(tile_size, height))
        for y in _starts(height, tile_size, overlap)
        for x in _starts(width, tile_size, overlap)
    ]


def tile_to_image(detections: Detections, tile: Tile, width: int, height: int) -> Detections:
    """Shift a tile's detections into image coordinates, dropping those cut by an inner tile edge."""
    if not len(detections):
        return detections
    boxes = detections.boxes
    cut = np.zeros(len(boxes), bool)
    if tile.x > 0:
        cut |= boxes[:, 0] <= EDGE_MARGIN
    if tile.y > 0:
        cut |= boxes[:, 1] <= EDGE_MARGIN
    if tile.x + tile.width < width:
        cut |= boxes[:, 2] >= tile.width - EDGE_MARGIN
    if tile.y + tile.height < height:
        cut |= boxes[:, 3] >= tile.height - EDGE_MARGIN
    kept = detections.select(~cut)
    offset = np.array([tile.x, tile.y], np.float32)
    return Detections(kept.boxes + np.tile(offset, 2), kept.scores, kept.landmarks + offset)
