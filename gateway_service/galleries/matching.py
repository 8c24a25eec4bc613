"""Matching face embeddings against a gallery's vectors (pure numpy; vectors are L2-normalized, so the dot
product is the cosine similarity).

A subject enrolled from several photos is matched as one template: the mean of their enrolled faces' vectors,
L2-normalized. Measured on LFW (``bench/recognition_rules.py``, people with >= 4 photos, 3 enrolled), it beats
both each subject's best-matching face and the mean of the similarities at the same share of strangers matched.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

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

    @cached_property
    def templates(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Each subject (in first-enrolled row order), its template (the mean of its faces' vectors,
        L2-normalized; float32 [S, D]) and how many faces it was made from (int [S])."""
        names = tuple(dict.fromkeys(self.subjects))
        if not names:
            return (), np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
        index = {name: number for number, name in enumerate(names)}
        rows = np.array([index[subject] for subject in self.subjects])
        order = np.argsort(rows, kind="stable")
        counts = np.bincount(rows, minlength=len(names))
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.add.reduceat(self.vectors[order].astype(np.float64), starts, axis=0)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return names, (sums / np.maximum(norms, 1e-12)).astype(np.float32), counts

    @property
    def comparisons(self) -> float:
        """How many single-face comparisons matching one face against every template is worth, for the
        false-accept rate of spare_gallery's threshold (``TEMPLATE_FALSE_ACCEPT_FACTOR``)."""
        _, _, counts = self.templates
        return float(sum(template_false_accept_factor(int(count)) for count in counts))

    def best_matches(self, embedding: np.ndarray, k: int) -> list[Match]:
        """The ``k`` most similar subjects (by their templates), most similar first."""
        names, templates, _ = self.templates
        if not names or embedding.shape[-1] != templates.shape[1]:
            return []
        similarities = templates @ embedding.astype(np.float32)
        order = np.argsort(-similarities, kind="stable")[:k]
        return [Match(names[row], round(float(similarities[row]), 4)) for row in order]


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
# A template made from n faces meets a stranger's face more often than one face does (the mean of several photos
# loses what is particular to each, and keeps more of what faces share): its false-accept rate at a threshold
# relative to one face's, by the number of faces (index; 0 and 1: one face), measured by bench/recognition_rules.py
# on LFW (283 people's templates, 2,427 strangers' photos; the geometric mean of the ratio over thresholds 0.35 to
# 0.45: 1.55, 1.94, 2.03, 2.12 for 2 to 5 faces, 2.15 for 8, so from 5 faces on it stays about level).
TEMPLATE_FALSE_ACCEPT_FACTOR: tuple[float, ...] = (1.0, 1.0, 1.55, 1.95, 2.05, 2.15)


def template_false_accept_factor(faces: int) -> float:
    """How many single-face comparisons a comparison with a template of ``faces`` faces is worth."""
    return TEMPLATE_FALSE_ACCEPT_FACTOR[min(max(faces, 1), len(TEMPLATE_FALSE_ACCEPT_FACTOR) - 1)]


# The share of strangers that spare_gallery is designed to leave visible, whatever the gallery's size: half the
# 0.2 % it must stay under, as margin for a rate measured on a few hundred thousand comparisons.
SPARE_STRANGER_RATE = 0.001


def spare_threshold(
    gallery_faces: float,
    floor: float,
    ceiling: float,
    stranger_rate: float = SPARE_STRANGER_RATE,
    false_accepts: tuple[tuple[float, float], ...] = SFACE_FALSE_ACCEPTS,
) -> float:
    """The similarity at which spare_gallery leaves a face visible, for a gallery worth ``gallery_faces``
    single-face comparisons (``GalleryVectors.comparisons``: its subjects, each weighted by its template's factor).

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
