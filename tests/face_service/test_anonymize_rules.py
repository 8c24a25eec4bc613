"""What hiding a face guarantees, on pure geometry and synthetic texture (no model, no service)."""

from __future__ import annotations

import cv2
import numpy as np

from face_detection_service.anonymize import ELLIPSE_FEATHER, AnonymizeOptions, anonymize
from faceblur_proto.vocabulary import Mask, Mode
from tests.regions import untouched


def texture(height: int, width: int, seed: int = 3) -> np.ndarray:
    """Detail at every scale a face has: light and dark areas tens of pixels across, and fine noise on them."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(40, 215, (height // 24 + 1, width // 24 + 1)), (width, height))
    fine = cv2.GaussianBlur(rng.normal(0, 25, (height, width)), (0, 0), 1.0)
    return np.clip(coarse + fine, 0, 255).astype(np.uint8)


def detail(grey: np.ndarray) -> float:
    """What the video leak test measures: the Laplacian's variance at 32x32."""
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_64F).var())


def middle_half(box: tuple[float, float, float, float]) -> tuple[slice, slice]:
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) / 4, (y2 - y1) / 4
    return slice(round(y1 + dy), round(y2 - dy)), slice(round(x1 + dx), round(x2 - dx))


def test_nothing_outside_the_touched_regions_changes():
    image = texture(300, 400)
    boxes = np.array([[50, 60, 120, 150], [300, 10, 390, 120]], np.float32)
    for options in (AnonymizeOptions(), AnonymizeOptions(mask=Mask.BOX, box_scale=1.0)):
        hidden = anonymize(image, boxes, options)
        outside = untouched(boxes, options, 300, 400)
        assert np.array_equal(hidden[outside], image[outside])


def test_the_ellipse_of_box_scale_is_hidden_completely_and_its_edge_fades():
    image = texture(400, 400)
    box = (150.0, 150.0, 250.0, 250.0)
    hidden = anonymize(image, np.array([box], np.float32), AnonymizeOptions(mode=Mode.SOLID))
    radius = 50 * AnonymizeOptions().box_scale
    ys, xs = np.ogrid[:400, :400]
    distance = np.sqrt((ys - 199.5) ** 2 + (xs - 199.5) ** 2)
    assert (hidden[distance <= radius - 1] == 0).all(), "inside the ellipse, nothing of the face is left"
    outer = radius * (1 + ELLIPSE_FEATHER)
    band = (distance > radius + 1) & (distance < outer - 1)
    kept = hidden[band].mean() / image[band].mean()
    assert 0.1 < kept < 0.9, "the edge fades: neither untouched nor filled"
    assert np.array_equal(hidden[distance > outer + 1], image[distance > outer + 1])


def test_a_face_overlapped_by_a_larger_one_keeps_no_seam():
    """A small face right above a larger one (a child on a shoulder, a crowd): the larger face's mask edge crosses
    the small face. Whatever order they are hidden in, the small face keeps under a fifth of its detail."""
    image = texture(400, 400)
    small, large = (180.0, 120.0, 224.0, 180.0), (180.0, 179.0, 241.0, 258.0)
    before = detail(image[middle_half(small)])
    for boxes in ([small, large], [large, small]):
        hidden = anonymize(image, np.array(boxes, np.float32), AnonymizeOptions())
        assert detail(hidden[middle_half(small)]) < 0.2 * before


def test_a_face_cut_by_the_image_edge_is_hidden_as_the_whole_face_would_be():
    image = texture(200, 300)
    box = np.array([[270.0, 50.0, 330.0, 130.0]], np.float32)  # half of it beyond the right edge
    hidden = anonymize(image, box, AnonymizeOptions(mode=Mode.SOLID))
    visible_face = (slice(55, 125), slice(270, 300))
    assert (hidden[visible_face] == 0).all()
