"""Face alignment for recognition (pure functions, no model): landmarks onto the ArcFace template."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from face_detection_service.detection.types import Detections
from face_detection_service.jobs import embed_faces
from face_detection_service.recognition.align import (
    ARCFACE_TEMPLATE,
    align_face,
    has_landmarks,
    similarity_transform,
    transform_scale,
)


def similarity(angle_degrees: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    angle = math.radians(angle_degrees)
    rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return np.hstack([rotation, np.array(shift)[:, None]])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def dotted_face(landmarks: np.ndarray, height: int, width: int, radius: int) -> np.ndarray:
    """A grey picture with a differently coloured dot on each landmark."""
    image = np.full((height, width, 3), 90, np.uint8)
    for number, (x, y) in enumerate(landmarks):
        colour = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)][number]
        cv2.circle(image, (round(x), round(y)), radius, colour, -1, lineType=cv2.LINE_AA)
    return image


def dot_centres(crop: np.ndarray) -> np.ndarray:
    """Where each coloured dot ended up in the aligned crop (intensity-weighted centre of its colour)."""
    centres = []
    for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]:
        distance = np.abs(crop.astype(np.float32) - np.array(colour, np.float32)).sum(axis=2)
        weight = np.clip(120 - distance, 0, None)
        ys, xs = np.indices(weight.shape)
        centres.append([(xs * weight).sum() / weight.sum(), (ys * weight).sum() / weight.sum()])
    return np.array(centres)


def test_landmarks_exactly_on_the_template_map_to_the_identity():
    matrix = similarity_transform(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE)
    np.testing.assert_allclose(matrix, np.eye(2, 3), atol=1e-6)

    image = np.random.default_rng(0).integers(0, 256, (112, 112, 3), dtype=np.uint8)
    np.testing.assert_array_equal(align_face(image, ARCFACE_TEMPLATE), image)


@pytest.mark.parametrize(
    ("angle", "scale", "shift"), [(30, 2.5, (140, 60)), (-75, 0.7, (20, 35)), (180, 1.0, (300, 300))]
)
def test_a_rotated_scaled_shifted_face_maps_back(angle, scale, shift):
    moved = similarity(angle, scale, shift)
    landmarks = apply(moved, ARCFACE_TEMPLATE)

    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE)

    np.testing.assert_allclose(apply(matrix, landmarks), ARCFACE_TEMPLATE, atol=1e-4)
    assert transform_scale(matrix) == pytest.approx(1 / scale)


def test_noisy_landmarks_get_the_least_squares_fit_without_reflection():
    landmarks = apply(similarity(10, 1.5, (50, 40)), ARCFACE_TEMPLATE)
    landmarks += np.random.default_rng(1).normal(0, 1.0, landmarks.shape)

    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE)

    assert np.linalg.det(matrix[:, :2]) > 0
    assert np.abs(apply(matrix, landmarks) - ARCFACE_TEMPLATE).max() < 3


@pytest.mark.parametrize(("angle", "scale"), [(20, 1.6), (-40, 9.0)])  # 9x: the big-face path shrinks first
def test_the_aligned_crop_puts_each_landmark_on_its_template_point(angle, scale):
    landmarks = apply(similarity(angle, scale, (scale * 60 + 40, scale * 20 + 30)), ARCFACE_TEMPLATE)
    height, width = (np.ceil(landmarks.max(axis=0)) + scale * 60).astype(int)[::-1]
    image = dotted_face(landmarks, height, width, radius=round(2.5 * scale))

    crop = align_face(image, landmarks.astype(np.float32))

    assert crop.shape == (112, 112, 3)
    assert np.abs(dot_centres(crop) - ARCFACE_TEMPLATE).max() < 1.0


def test_only_faces_with_five_finite_landmarks_are_embedded():
    class FixedEmbedder:
        side, dimensions = 112, 4

        def embed(self, faces: np.ndarray) -> np.ndarray:
            assert faces.shape[1:] == (112, 112, 3)
            return np.tile(np.array([1, 0, 0, 0], np.float32), (len(faces), 1))

    landmarks = np.stack([ARCFACE_TEMPLATE, np.full((5, 2), np.nan), ARCFACE_TEMPLATE]).astype(np.float32)
    landmarks[2, 3, 0] = np.nan
    faces = Detections(np.zeros((3, 4), np.float32), np.ones(3, np.float32), landmarks)
    assert [has_landmarks(points) for points in landmarks] == [True, False, False]

    embeddings = embed_faces(np.zeros((112, 112, 3), np.uint8), faces, FixedEmbedder())

    np.testing.assert_array_equal(embeddings[0], [1, 0, 0, 0])
    assert np.isnan(embeddings[1:]).all()
