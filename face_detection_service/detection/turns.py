"""Looks at a photo turned by quarter turns, for faces the upright model cannot see: a photo taken sideways or
upside down (and saved without an EXIF orientation), people lying down, heads tipped far over.

YOLOv8n-face was trained on upright faces: a face turned 90 degrees or more is mostly missed. Turning the photo
so the face is upright again and turning the boxes and landmarks back recovers it. `quarter_turns` k means
`np.rot90(image, k)`: k quarter turns counter-clockwise.

A *mosaic* packs several turned copies of the photo, each shrunk into one cell of a grid, into a single model
input, so looking at three turns costs one model pass (at half the whole-image pass's scale on a 2 x 2 grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .types import Detections
from .yolo import LETTERBOX_PAD_VALUE


def turn(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """The image turned `quarter_turns` x 90 degrees counter-clockwise (contiguous)."""
    if quarter_turns % 4 == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, quarter_turns))


def _turn_points_back(points: np.ndarray, quarter_turns: int, width: int, height: int) -> np.ndarray:
    """[..., 2] points of the turned image back in the upright image, which is width x height."""
    x, y = points[..., 0], points[..., 1]
    k = quarter_turns % 4
    if k == 1:  # turned (x, y) -> (y, width - x)
        return np.stack([width - y, x], axis=-1)
    if k == 2:
        return np.stack([width - x, height - y], axis=-1)
    if k == 3:  # turned (x, y) -> (height - y, x)
        return np.stack([y, height - x], axis=-1)
    return points


def turned_back(faces: Detections, quarter_turns: int, width: int, height: int) -> Detections:
    """Faces found in the image turned `quarter_turns` times, in the pixels of the upright width x height image.

    Landmarks keep their names: the left eye is the eye on the left in the turned image, where the face was
    upright."""
    if quarter_turns % 4 == 0 or not len(faces):
        return faces
    corners = _turn_points_back(faces.boxes.reshape(-1, 2, 2), quarter_turns, width, height)
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).astype(np.float32)
    landmarks = _turn_points_back(faces.landmarks, quarter_turns, width, height).astype(np.float32)
    return Detections(boxes, faces.scores, landmarks)


@dataclass(frozen=True)
class Cell:
    """Where one turned copy sits in the mosaic: its turn, the cell, and the copy's scale and offset in it."""

    quarter_turns: int
    x: int
    y: int
    size: int
    scale: float  # mosaic px per upright-image px
    left: int  # the copy's offset inside the mosaic
    top: int


def mosaic(image: np.ndarray, quarter_turns: tuple[int, ...], side: int) -> tuple[np.ndarray, list[Cell]]:
    """A side x side canvas holding the image turned by each of `quarter_turns` (at most 4), one per cell of a
    2 x 2 grid, each shrunk to fit its cell and centred in it."""
    if not 1 <= len(quarter_turns) <= 4:
        raise ValueError("a mosaic holds 1 to 4 turns")
    cell = side // 2
    # YOLO's letterbox grey between the cells: borders that look like the padding the model was trained with.
    canvas = np.full((side, side, image.shape[2]), LETTERBOX_PAD_VALUE, image.dtype)
    height, width = image.shape[:2]
    scale = cell / max(width, height)
    # Shrunk once, then turned: turning the full-size photo three times cost as much as the model pass.
    shrunk = cv2.resize(
        image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
    )
    cells = []
    for index, k in enumerate(quarter_turns):
        small = turn(shrunk, k)
        new_h, new_w = small.shape[:2]
        x, y = (index % 2) * cell, (index // 2) * cell
        left, top = x + (cell - new_w) // 2, y + (cell - new_h) // 2
        canvas[top : top + new_h, left : left + new_w] = small
        cells.append(Cell(k, x, y, cell, scale, left, top))
    return canvas, cells


def split_mosaic(faces: Detections, cells: list[Cell], width: int, height: int) -> list[Detections]:
    """The faces found in a mosaic, per cell, in the pixels of the upright width x height image.

    A face belongs to the cell holding its box's centre, and is clipped to that cell's copy of the image."""
    if not len(faces):
        return [Detections.empty() for _ in cells]
    centres = (faces.boxes[:, :2] + faces.boxes[:, 2:]) / 2
    per_cell = []
    for cell in cells:
        x2, y2 = cell.x + cell.size, cell.y + cell.size
        inside = (centres[:, 0] >= cell.x) & (centres[:, 0] < x2) & (centres[:, 1] >= cell.y) & (centres[:, 1] < y2)
        found = faces.select(inside)
        offset = np.array([cell.left, cell.top], np.float32)
        turned_w = (width if cell.quarter_turns % 2 == 0 else height) * cell.scale
        turned_h = (height if cell.quarter_turns % 2 == 0 else width) * cell.scale
        boxes = found.boxes - np.tile(offset, 2)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, turned_w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, turned_h)
        local = Detections(boxes / cell.scale, found.scores, (found.landmarks - offset) / cell.scale)
        per_cell.append(turned_back(local, cell.quarter_turns, width, height))
    return per_cell
