"""Merge the detections of several passes (whole image, tiles, a second model) into one box per face.

Boxes that overlap (IoU >= MERGE_IOU) are one face, clustered greedily from the most confident. The face keeps
the cluster's best score, and the box and landmarks of the best detection from a *preferred* pass (the primary
YOLO model) when there is one: a second model only adds faces, it never moves a box the primary model drew.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import iou_matrix
from .types import Detections

MERGE_IOU = 0.45  # the same overlap the YOLO decoder treats as one face


@dataclass(frozen=True)
class Pass:
    detections: Detections
    preferred: bool = True  # its boxes win over non-preferred ones for the same face


@dataclass(frozen=True)
class LogitLinear:
    """A monotone score map, logit(out) = slope * logit(in) + intercept (Platt scaling between two models)."""

    slope: float
    intercept: float

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        clipped = np.clip(scores.astype(np.float64), 1e-6, 1 - 1e-6)
        logits = self.slope * np.log(clipped / (1 - clipped)) + self.intercept
        return (1 / (1 + np.exp(-logits))).astype(np.float32)

    def inverse(self, score: float) -> float:
        clipped = min(max(score, 1e-6), 1 - 1e-6)
        return float(1 / (1 + np.exp(-((np.log(clipped / (1 - clipped)) - self.intercept) / self.slope))))


# CenterFace's scores on the YOLOv8n-face int8 scale, so one threshold means the same precision for both models.
# Fitted by `python -m bench.calibrate` (Platt scaling of each model's true/false positives on wider_train).
CENTERFACE_TO_YOLO = LogitLinear(slope=1.31, intercept=-0.34)


def fuse(passes: list[Pass]) -> Detections:
    """One detection per face, best score first."""
    parts = [p for p in passes if len(p.detections)]
    if not parts:
        return Detections.empty()
    combined = Detections.concat([p.detections for p in parts])
    preferred = np.concatenate([np.full(len(p.detections), p.preferred) for p in parts])
    if len(parts) == 1:
        return combined
    order = np.argsort(-combined.scores, kind="stable")
    combined, preferred = combined.select(order), preferred[order]
    overlaps = iou_matrix(combined.boxes, combined.boxes)
    unclaimed = np.ones(len(combined), bool)
    representatives, scores = [], []
    for seed in range(len(combined)):
        if not unclaimed[seed]:
            continue
        members = unclaimed & (overlaps[seed] >= MERGE_IOU)
        members[seed] = True
        unclaimed &= ~members
        best_preferred = np.flatnonzero(members & preferred)
        representatives.append(int(best_preferred[0]) if best_preferred.size else seed)
        scores.append(combined.scores[seed])
    chosen = combined.select(np.asarray(representatives, np.int64))
    return Detections(chosen.boxes, np.asarray(scores, np.float32), chosen.landmarks)
