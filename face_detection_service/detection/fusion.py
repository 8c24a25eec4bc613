"""Merge the detections of several passes (whole image, tiles, other models) into one set of faces."""

from __future__ import annotations

from .geometry import nms
from .types import Detections

MERGE_IOU = 0.4


def merge(passes: list[Detections]) -> Detections:
    """One box per face: overlapping boxes from different passes are suppressed in favour of the most confident."""
    combined = Detections.concat(passes)
    if len(passes) <= 1 or not len(combined):
        return combined
    return combined.select(nms(combined.boxes, combined.scores, MERGE_IOU))
