"""Merge the detections of several passes into one box per face.

Boxes that overlap (IoU >= MERGE_IOU) are one face, clustered greedily from the most confident. Two merges:

- `fuse` (a second model): the face keeps the cluster's best score, and the box and landmarks of the best
  detection from a *preferred* pass (the primary YOLO model) when there is one: a second model only adds faces,
  it never moves a box the primary model drew.
- `vote` (several looks of one model at the same image: whole image, tiles, mirrored tiles): the face's score is
  the mean over every look *responsible* for a face of its size and place, a look that saw nothing there counting
  0, and its box and landmarks the score-weighted mean of the cluster's (as in weighted box fusion). A face that
  only one of two looks sees is half as sure; one that both see keeps its score, which is what separates faces
  from face-like texture (bench/ACCURACY.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import iou_matrix
from .types import Detections

MERGE_IOU = 0.45  # the same overlap the YOLO decoder treats as one face


@dataclass(frozen=True)
class Proposal:
    """Detections offered to ``fuse``: a face keeps its best score, and a preferred proposal's box. (``Look`` is
    what ``vote`` averages: it also says which faces it was responsible for seeing.)"""

    detections: Detections
    preferred: bool = True  # its boxes win over non-preferred ones for the same face


@dataclass(frozen=True)
class Look:
    """One model's detections over (part of) the image, and which faces it is responsible for."""

    detections: Detections
    max_face: float | None = None  # px: the largest face this look reports; None: any size
    regions: tuple[tuple[float, float, float, float], ...] | None = None  # x1, y1, x2, y2; None: whole image

    def responsible_for(self, box: np.ndarray) -> bool:
        if self.max_face is not None and max(box[2] - box[0], box[3] - box[1]) > self.max_face:
            return False
        if self.regions is None:
            return True
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        return any(x1 <= x < x2 and y1 <= y < y2 for x1, y1, x2, y2 in self.regions)


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


def _clusters(parts: list[Detections]) -> tuple[Detections, np.ndarray, list[tuple[int, np.ndarray]]]:
    """All detections best first, the index of the part each came from, and the faces as (seed, members mask).

    Greedy from the most confident: a seed claims every unclaimed detection overlapping it by MERGE_IOU or more.
    """
    combined = Detections.concat(parts)
    source = np.concatenate([np.full(len(part), index) for index, part in enumerate(parts)])
    order = np.argsort(-combined.scores, kind="stable")
    combined, source = combined.select(order), source[order]
    overlaps = iou_matrix(combined.boxes, combined.boxes)
    unclaimed = np.ones(len(combined), bool)
    clusters = []
    for seed in range(len(combined)):
        if not unclaimed[seed]:
            continue
        members = unclaimed & (overlaps[seed] >= MERGE_IOU)
        members[seed] = True
        unclaimed &= ~members
        clusters.append((seed, members))
    return combined, source, clusters


def fuse(passes: list[Proposal]) -> Detections:
    """One detection per face, best score first."""
    parts = [p for p in passes if len(p.detections)]
    if not parts:
        return Detections.empty()
    if len(parts) == 1:
        return parts[0].detections
    combined, source, clusters = _clusters([p.detections for p in parts])
    preferred = np.array([p.preferred for p in parts])[source]
    representatives, scores = [], []
    for seed, members in clusters:
        best_preferred = np.flatnonzero(members & preferred)
        representatives.append(int(best_preferred[0]) if best_preferred.size else seed)
        scores.append(combined.scores[seed])
    chosen = combined.select(np.asarray(representatives, np.int64))
    return Detections(chosen.boxes, np.asarray(scores, np.float32), chosen.landmarks)


def vote(looks: list[Look]) -> Detections:
    """One detection per face seen by any look, scored by the mean of the responsible looks, best first."""
    if not any(len(look.detections) for look in looks):
        return Detections.empty()
    combined, source, clusters = _clusters([look.detections for look in looks])
    boxes, scores, landmarks = [], [], []
    for seed, members in clusters:
        seed_box = combined.boxes[seed]
        votes = [
            float(combined.scores[members & (source == index)].max(initial=0.0))
            for index, look in enumerate(looks)
            if look.responsible_for(seed_box)
        ]
        weights = combined.scores[members] / combined.scores[members].sum()
        boxes.append(weights @ combined.boxes[members])
        landmarks.append(np.tensordot(weights, combined.landmarks[members], axes=1))
        scores.append(np.mean(votes) if votes else combined.scores[seed])
    faces = Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(scores, np.float32),
        np.asarray(landmarks, np.float32).reshape(-1, 5, 2),
    )
    return faces.select(np.argsort(-faces.scores, kind="stable"))
