"""Faces cut out upright for a recognition model: five landmarks mapped onto the ArcFace 112x112 template.

Pure functions. The similarity transform (rotation, uniform scale, translation) is Umeyama's closed-form least
squares fit, as InsightFace and OpenCV's FaceRecognizerSF compute it: deterministic, unlike a RANSAC/LMEDS fit.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

ALIGNED_SIDE = 112
# Left eye, right eye, nose tip, left and right mouth corners in a 112x112 crop (InsightFace's arcface_dst).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    np.float32,
)
# A face shrunk more than this by the warp is first shrunk with area averaging, so the crop does not alias.
MAX_WARP_SHRINK = 2.0


def has_landmarks(landmarks: np.ndarray) -> bool:
    """True when all five points are known (finite)."""
    return landmarks.shape == (5, 2) and bool(np.isfinite(landmarks).all())


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the similarity transform that maps ``source`` points [N, 2] closest onto ``target``."""
    source, target = source.astype(np.float64), target.astype(np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    reflection = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ reflection @ vt
    scale = np.trace(np.diag(singular) @ reflection) / source_centred.var(axis=0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - matrix[:, :2] @ source_mean
    return matrix


def transform_scale(matrix: np.ndarray) -> float:
    """How much a similarity transform enlarges (> 1) or shrinks (< 1) what it maps."""
    return math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))


def align_face(image: np.ndarray, landmarks: np.ndarray, side: int = ALIGNED_SIDE) -> np.ndarray:
    """The face whose five landmarks (image pixels) are given, as a ``side`` x ``side`` crop in which they sit
    on the ArcFace template; pixels beyond the image's edge are black, as in the template's training crops."""
    template = ARCFACE_TEMPLATE * (side / ALIGNED_SIDE)
    matrix = similarity_transform(landmarks, template)
    shrink = 1 / transform_scale(matrix)
    if shrink > MAX_WARP_SHRINK:
        image, landmarks = _shrunk_around(image, landmarks, matrix, shrink / MAX_WARP_SHRINK * 0.999, side)
        matrix = similarity_transform(landmarks, template)
    return cv2.warpAffine(
        image, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _shrunk_around(
    image: np.ndarray, landmarks: np.ndarray, matrix: np.ndarray, factor: float, side: int
) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``image`` the crop will show (with a margin), shrunk ``factor`` times by area averaging, and
    the landmarks in its pixels."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], np.float64) @ inverse.T
    height, width = image.shape[:2]
    margin = 2 * factor
    x1, y1 = (max(0, math.floor(v - margin)) for v in corners.min(axis=0))
    x2, y2 = math.ceil(min(width, corners[:, 0].max() + margin)), math.ceil(min(height, corners[:, 1].max() + margin))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return image, landmarks
    region = image[y1:y2, x1:x2]
    size = (max(1, round((x2 - x1) / factor)), max(1, round((y2 - y1) / factor)))
    shrunk = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    scale = np.array([size[0] / (x2 - x1), size[1] / (y2 - y1)])
    return shrunk, ((landmarks - [x1, y1]) * scale).astype(np.float32)
