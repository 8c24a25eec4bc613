"""Zoomed-in tiles on top of the whole-image pass, so faces too small for it are seen at a useful size.

The whole-image pass sees a photo shrunk to the model input (640 px), where a face 16 px wide in a 1024 px photo
is 10 px: at the edge of what the network finds. The tile pass looks at the same photo enlarged by up to
`zoom` times that (one octave by default), cut into a grid of at most `max_tiles` model-sized tiles.

Each pass is responsible for one range of face sizes (as in SNIP, scale-normalised image pyramids): tiles keep
only faces up to FACE_LIMIT of the input size (96 px at 640) and neighbouring tiles overlap by exactly that much,
so every face a tile pass is responsible for lies whole inside some tile; larger faces are left to the whole-image
pass, which sees them at >= FACE_LIMIT / zoom (about 48 px): comfortably inside its range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .types import Detections

FACE_LIMIT = 0.15  # fraction of the model input: the largest face a tile reports, and the tile overlap
EDGE_MARGIN = 2.0  # px: a detection this close to an inner tile edge is cut off by it
MIN_GAIN = 1.25  # tiles that would enlarge the image less than this over the whole-image pass are not worth it


@dataclass(frozen=True)
class Tile:
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class TilePlan:
    """Tiles over the image resized by `scale` (scaled_width x scaled_height), in that resized image's pixels."""

    scale: float
    scaled_width: int
    scaled_height: int
    tiles: list[Tile]


def _grid_scale(columns: int, rows: int, width: int, height: int, tile: int, overlap: int) -> float:
    """The largest scale at which a columns x rows grid of overlapping tiles still covers the image."""
    return min((columns * tile - (columns - 1) * overlap) / width, (rows * tile - (rows - 1) * overlap) / height)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    step = (length - tile) / (count - 1)
    return [round(i * step) for i in range(count)]


def plan_tiles(width: int, height: int, tile: int, max_tiles: int, zoom: float) -> TilePlan | None:
    """The grid of at most `max_tiles` tiles that sees the image largest, up to `zoom` x the whole-image scale.

    None when no grid enlarges the image at least MIN_GAIN times over the whole-image pass.
    """
    if max_tiles < 1:
        return None
    overlap = round(tile * FACE_LIMIT)
    whole_scale = tile / max(width, height)
    grids = [(c, r) for c in range(1, max_tiles + 1) for r in range(1, max_tiles // c + 1)]
    reachable = max(_grid_scale(c, r, width, height, tile, overlap) for c, r in grids)
    scale = min(reachable, zoom * whole_scale)
    if scale < MIN_GAIN * whole_scale:
        return None
    scaled_width, scaled_height = max(1, math.floor(width * scale + 1e-6)), max(1, math.floor(height * scale + 1e-6))
    tiles = [
        Tile(x, y, min(tile, scaled_width), min(tile, scaled_height))
        for y in _starts(scaled_height, tile, overlap)
        for x in _starts(scaled_width, tile, overlap)
    ]
    return TilePlan(scale, scaled_width, scaled_height, tiles)


def tile_to_image(detections: Detections, tile: Tile, plan: TilePlan, input_size: int) -> Detections:
    """A tile's own faces in the resized image's coordinates.

    Drops faces larger than the tile pass is responsible for and faces cut by an inner tile edge (a neighbour,
    or the whole-image pass, sees those whole).
    """
    if not len(detections):
        return detections
    boxes = detections.boxes
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    drop = sizes > FACE_LIMIT * input_size
    if tile.x > 0:
        drop |= boxes[:, 0] <= EDGE_MARGIN
    if tile.y > 0:
        drop |= boxes[:, 1] <= EDGE_MARGIN
    if tile.x + tile.width < plan.scaled_width:
        drop |= boxes[:, 2] >= tile.width - EDGE_MARGIN
    if tile.y + tile.height < plan.scaled_height:
        drop |= boxes[:, 3] >= tile.height - EDGE_MARGIN
    kept = detections.select(~drop)
    offset = np.array([tile.x, tile.y], np.float32)
    return Detections(kept.boxes + np.tile(offset, 2), kept.scores, kept.landmarks + offset)
