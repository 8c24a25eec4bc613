"""The quality gate: whether a face can be embedded reliably enough to enroll it, and to leave it visible under
``spare_gallery`` (a face that fails it is treated as a stranger's there: hidden).

Three measures, each with the threshold past which recognition stops being reliable, measured on LFW by
``bench/recognition_rules.py`` (photo B of 300 same-person pairs made smaller or blurred and run through the
service; the README's Recognition section has the table):

- size, the box's long side in pixels (the ``min_face_size`` measure): at 40 px a face still matches its person
  at the verify threshold 98.0 % of the time (99.0 % at full size) and at 0.5, about where spare_gallery's
  threshold sits, 90.3 % (93.7 %); at 32 px 97.3 % and 85.3 %, at 26 px 95.0 % and 73.0 %.
- sharpness of the aligned 112 x 112 face the embedding is made from, as the face service reports it
  (``face_detection_service/recognition/quality.py``): below 0.4 a face matches its person at the verify
  threshold at most 85 % of the time (blurred or enlarged faces pooled), from 0.4 to 0.45 92 %, above 0.5 97-98 %.
  Of LFW's news photos 3 in 5,373 are below 0.4 (median 1.13).
- turn, how far the face is turned from the camera, from its five landmarks: the nose's sideways distance from
  the line through the middle of the eyes and the middle of the mouth, over the distance between the eyes
  (0 for a frontal face, about 0.5 at 45 degrees, 1 or more in profile). Against the same person's frontal photos,
  LFW's faces match at 0.5 97-98 % of the time up to a turn of 0.7 and 63 % from 0.7 to 0.9 (71 pairs of 9 people:
  LFW has few strongly turned faces, so this threshold rests on little).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from faceblur_proto.v1 import face_detection_pb2 as pb

MIN_SIZE = 40.0  # px, the box's long side
MIN_SHARPNESS = 0.4
MAX_TURN = 0.7


@dataclass(frozen=True)
class FaceQuality:
    size: float  # px, the box's long side
    sharpness: float
    turn: float | None  # None without the five landmarks

    def problem(self) -> str | None:
        """What makes the face unreliable to embed, naming the measure and its threshold; None if nothing."""
        if self.size < MIN_SIZE:
            return f"too small: {self.size:.0f} px (the box's long side) < {MIN_SIZE:.0f} px"
        if self.sharpness < MIN_SHARPNESS:
            return f"too blurred: sharpness {self.sharpness:.3f} < {MIN_SHARPNESS}"
        if self.turn is None or self.turn > MAX_TURN:
            shown = "unknown (no landmarks)" if self.turn is None else f"{self.turn:.2f}"
            return f"too turned: turn {shown} > {MAX_TURN}"
        return None

    def measures(self) -> dict[str, float | None]:
        return {
            "size": round(self.size, 1),
            "sharpness": round(self.sharpness, 4),
            "turn": None if self.turn is None else round(self.turn, 3),
        }


def turn(landmarks: Sequence[tuple[float, float]]) -> float | None:
    """The nose's sideways distance from the face's midline (middle of the eyes to middle of the mouth), over
    the distance between the eyes; None without all five landmarks (left eye, right eye, nose, mouth corners)."""
    if len(landmarks) != 5:
        return None
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = landmarks
    eyes = math.hypot(rx - lx, ry - ly)
    top, bottom = ((lx + rx) / 2, (ly + ry) / 2), ((mlx + mrx) / 2, (mly + mry) / 2)
    axis = (bottom[0] - top[0], bottom[1] - top[1])
    length = math.hypot(*axis)
    if eyes < 1e-6 or length < 1e-6:
        return None
    sideways = abs(axis[0] * (ny - top[1]) - axis[1] * (nx - top[0])) / length
    return sideways / eyes


def face_quality(face: pb.Face) -> FaceQuality:
    """The quality measures of a face of an embed job's result."""
    size = max(face.x2 - face.x1, face.y2 - face.y1)
    return FaceQuality(float(size), float(face.sharpness), turn([(p.x, p.y) for p in face.landmarks]))
