"""Matching face embeddings against a gallery's vectors (pure numpy; vectors are L2-normalized, so the dot
product is the cosine similarity)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Match:
    subject: str
    similarity: float


@dataclass(frozen=True)
class GalleryVectors:
    """One gallery as matching needs it: a row per enrolled face, and whose face each row is."""

    version: int
    model: str
    subjects: tuple[str, ...]  # subject of each row
    vectors: np.ndarray  # float32 [N, D]

    @staticmethod
    def empty(version: int = 0, model: str = "") -> GalleryVectors:
        return GalleryVectors(version, model, (), np.zeros((0, 0), np.float32))

    def __len__(self) -> int:
        return len(self.subjects)

    def best_matches(self, embedding: np.ndarray, k: int) -> list[Match]:
        """The ``k`` most similar subjects (each by its most similar enrolled face), most similar first."""
        if not len(self) or embedding.shape[-1] != self.vectors.shape[1]:
            return []
        similarities = self.vectors @ embedding.astype(np.float32)
        best: dict[str, float] = {}
        for row in np.argsort(-similarities):
            subject = self.subjects[row]
            if subject not in best:
                best[subject] = float(similarities[row])
                if len(best) == k:
                    break
        return [Match(subject, round(similarity, 4)) for subject, similarity in best.items()]


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings."""
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


# How often one comparison of a stranger's face with one enrolled face of someone else reaches a cosine threshold
# (SFace int8 as the service runs it: its detection, alignment and embedding): (threshold, false-accept rate), the
# rate falling with the threshold. Measured by bench/recognition.py on LFW: 608,751 comparisons of different people
# (every pair of 774 people enrolled from one photo each, and 400 never-enrolled people against all 774); the last
# points rest on 3 and 1 comparisons. Another embedding model needs its own table (re-measure).
SFACE_FALSE_ACCEPTS: tuple[tuple[float, float], ...] = (
    (0.300, 1.04e-2),
    (0.325, 4.63e-3),
    (0.350, 1.90e-3),
    (0.375, 6.93e-4),
    (0.400, 2.74e-4),
    (0.425, 9.86e-5),
    (0.450, 2.79e-5),
    (0.475, 8.21e-6),
    (0.500, 4.93e-6),
    (0.525, 1.64e-6),
)
# The share of strangers that spare_gallery is designed to leave visible, whatever the gallery's size: half the
# 0.2 % it must stay under, as margin for a rate measured on a few hundred thousand comparisons.
SPARE_STRANGER_RATE = 0.001


def spare_threshold(
    gallery_faces: int,
    floor: float,
    ceiling: float,
    stranger_rate: float = SPARE_STRANGER_RATE,
    false_accepts: tuple[tuple[float, float], ...] = SFACE_FALSE_ACCEPTS,
) -> float:
    """The similarity at which spare_gallery leaves a face visible, for a gallery of ``gallery_faces`` faces.

    A stranger is compared with every enrolled face, so the chance that one of them reaches threshold t is about
    ``gallery_faces x FAR(t)``: the lowest t at which that stays within ``stranger_rate`` (FAR interpolated
    log-linearly between the points of ``false_accepts``, extrapolated along its last segment), never below
    ``floor`` (a spared face must at least be a verify match) nor above ``ceiling`` (the ceiling wins if the two
    cross)."""
    target = stranger_rate / max(gallery_faces, 1)
    points = sorted(false_accepts)
    threshold = points[0][0]
    if target < points[0][1]:
        for (t0, far0), (t1, far1) in itertools.pairwise(points):
            threshold = t0 + (t1 - t0) * math.log(far0 / target) / math.log(far0 / far1)
            if target >= far1:
                break
    return round(min(ceiling, max(floor, threshold)), 4)
