"""The main face of a photo: the one face that stands for it where one face is needed (verify's first image,
enrolling, the demo). Pure functions, shared by the gateway and the demo.

Each face's prominence is a weighted sum of three things a person framing a photo of someone does: the face is
large (``log`` of its size relative to the photo's largest face), near the centre (its centre's distance from
the photo's centre, as a share of the half-diagonal) and clearly a face (the detector's confidence)::

    prominence = SIZE_WEIGHT * log(side / largest side) - CENTRE_WEIGHT * distance + CONFIDENCE_WEIGHT * confidence

``side`` is the square root of the box's area. The main face is the most prominent; the weights are a conditional
logit fitted on LFW (``bench/recognition_rules.py``: photos with several faces, the named person's face found by
matching the person's other photos), so ``softmax(prominence)`` over a photo's faces is the measured chance that
each is the person the photo is of. Where the most prominent face's chance is below MIN_MAIN_SHARE no face stands
out (a group, two people side by side): enrolling refuses such a photo rather than guess.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# Measured by bench/recognition_rules.py on LFW folds 1-5 (chosen on 4 folds, tested on the 5th; see README).
SIZE_WEIGHT = 5.5
CENTRE_WEIGHT = 12.0
CONFIDENCE_WEIGHT = 2.5
# Below this chance of being the photo's person, the most prominent face does not stand out.
MIN_MAIN_SHARE = 0.9
MAIN_FACE_RULE = (
    "the most prominent face: large, near the centre and confidently detected (the README gives the weights)"
)


@dataclass(frozen=True)
class Candidate:
    """What the rule looks at of one face: its box in pixels (x1, y1, x2, y2) and the detector's confidence."""

    box: Sequence[float]
    confidence: float


def prominences(faces: Sequence[Candidate], width: float, height: float) -> list[float]:
    """Each face's prominence in a ``width`` x ``height`` photo (only differences between faces matter)."""
    sides = [math.sqrt(max(x2 - x1, 1e-6) * max(y2 - y1, 1e-6)) for x1, y1, x2, y2 in (f.box for f in faces)]
    largest = max(sides, default=1.0)
    half_diagonal = max(math.hypot(width / 2, height / 2), 1e-6)
    scores = []
    for face, side in zip(faces, sides, strict=True):
        x1, y1, x2, y2 = face.box
        distance = math.hypot((x1 + x2) / 2 - width / 2, (y1 + y2) / 2 - height / 2) / half_diagonal
        scores.append(
            SIZE_WEIGHT * math.log(side / largest) - CENTRE_WEIGHT * distance + CONFIDENCE_WEIGHT * face.confidence
        )
    return scores


def main_share(faces: Sequence[Candidate], width: float, height: float) -> list[float]:
    """Each face's chance of being the person the photo is of (softmax of the prominences; sums to 1)."""
    scores = prominences(faces, width, height)
    if not scores:
        return []
    top = max(scores)
    weights = [math.exp(score - top) for score in scores]
    total = sum(weights)
    return [weight / total for weight in weights]


def main_face(faces: Sequence[Candidate], width: float, height: float) -> int | None:
    """The index of the photo's main face (None without faces); ties go to the first."""
    scores = prominences(faces, width, height)
    return max(range(len(scores)), key=scores.__getitem__) if scores else None


def stands_out(faces: Sequence[Candidate], width: float, height: float) -> bool:
    """Whether the main face stands out: its chance of being the photo's person is at least MIN_MAIN_SHARE."""
    shares = main_share(faces, width, height)
    return bool(shares) and max(shares) >= MIN_MAIN_SHARE


def largest_face(faces: Sequence[Candidate]) -> int | None:
    """The index of the largest face by box area (None without faces); ties go to the first."""
    areas = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in (f.box for f in faces)]
    return max(range(len(areas)), key=areas.__getitem__) if areas else None
