"""Matching face embeddings against a gallery's vectors (pure numpy; vectors are L2-normalized, so the dot
product is the cosine similarity)."""

from __future__ import annotations

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
