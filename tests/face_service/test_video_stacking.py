"""Two frames detected in one pass: each face goes back to the frame it is in, in that frame's pixels."""

from __future__ import annotations

import numpy as np
import pytest

from face_detection_service.detection.types import Detections
from face_detection_service.video.stacking import split, stack


def faces(*boxes: tuple[float, float, float, float]) -> Detections:
    array = np.array(boxes, np.float32).reshape(-1, 4)
    landmarks = np.repeat(((array[:, :2] + array[:, 2:]) / 2)[:, None, :], 5, axis=1)
    return Detections(array, np.full(len(array), 0.8, np.float32), landmarks)


def test_landscape_frames_are_stacked_one_above_the_other() -> None:
    first, second = np.zeros((720, 1280, 3), np.uint8), np.ones((720, 1280, 3), np.uint8)
    image, vertical = stack(first, second)
    assert vertical and image.shape == (1440, 1280, 3)
    assert image[719].max() == 0 and image[720].min() == 1


def test_portrait_frames_are_stacked_side_by_side() -> None:
    image, vertical = stack(np.zeros((1080, 608, 3), np.uint8), np.zeros((1080, 608, 3), np.uint8))
    assert not vertical and image.shape == (1080, 1216, 3)


def test_each_face_returns_to_its_frame_in_its_pixels() -> None:
    top, bottom = split(faces((100, 100, 200, 220), (500, 800, 600, 900)), True, 1280, 720)
    np.testing.assert_allclose(top.boxes, [[100, 100, 200, 220]])
    np.testing.assert_allclose(bottom.boxes, [[500, 80, 600, 180]])
    np.testing.assert_allclose(bottom.landmarks[0, 0], [550, 130])


@pytest.mark.parametrize(
    ("box", "vertical", "size", "frame", "expected"),
    [
        # A box across the join goes to the frame of its centre, clipped to it.
        ((10, 650, 110, 760), True, (1280, 720), 0, [10, 650, 110, 720]),
        # Side by side, a face in the second frame shifts left by a frame's width.
        ((700, 10, 800, 110), False, (608, 1080), 1, [92, 10, 192, 110]),
    ],
    ids=["across-the-join", "side-by-side"],
)
def test_a_single_face_goes_to_one_frame_only(
    box: tuple[float, float, float, float], vertical: bool, size: tuple[int, int], frame: int, expected: list[float]
) -> None:
    frames = split(faces(box), vertical, *size)
    assert len(frames[1 - frame]) == 0
    np.testing.assert_allclose(frames[frame].boxes, [expected])
