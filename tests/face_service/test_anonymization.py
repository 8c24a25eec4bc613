"""Blurred faces must be unrecognisable, and nothing else in the photo may change."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_detection_service.anonymize import AnonymizeOptions
from face_detection_service.client import FaceServiceClient
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import Mask
from tests.regions import untouched

from .faces import decode, reference_boxes


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def laplacian_energy(image: np.ndarray) -> float:
    return float(np.abs(cv2.Laplacian(image, cv2.CV_32F)).mean())


def outside_mask(shape: tuple[int, int], result: pb.JobResult, options: AnonymizeOptions) -> np.ndarray:
    boxes = np.array([[f.x1, f.y1, f.x2, f.y2] for f in result.faces], np.float32)
    return untouched(boxes, options, shape[0], shape[1])


@pytest.mark.parametrize("mode", ["BLUR", "PIXELATE", "SOLID"])
def test_faces_are_hidden_and_the_rest_is_untouched(client: FaceServiceClient, reference_jpeg, mode):
    answer = client.blur(reference_jpeg, mode=getattr(pb, f"ANONYMIZATION_MODE_{mode}"))

    original, hidden = grey(decode(reference_jpeg)), grey(decode(answer.image))
    assert hidden.shape == original.shape
    for x1, y1, x2, y2 in reference_boxes():
        before, after = original[y1:y2, x1:x2], hidden[y1:y2, x1:x2]
        assert np.abs(after - before).mean() >= 20
        if mode == "BLUR":  # pixelation keeps block edges by design; blur must leave no detail at all
            assert laplacian_energy(after) <= 0.10 * laplacian_energy(before)
    outside = outside_mask(original.shape, answer.result, AnonymizeOptions())
    assert np.abs(hidden - original)[outside].mean() <= 2


def test_box_mask_and_box_scale_are_honoured(client: FaceServiceClient, reference_jpeg):
    answer = client.blur(reference_jpeg, mask_shape=pb.MASK_SHAPE_BOX, box_scale=1.0)

    original, hidden = grey(decode(reference_jpeg)), grey(decode(answer.image))
    face = answer.result.faces[0]
    corner = (slice(int(face.y1) + 2, int(face.y1) + 12), slice(int(face.x1) + 2, int(face.x1) + 12))
    assert np.abs(hidden[corner] - original[corner]).mean() > 5, "a box mask also hides the box corners"
    outside = outside_mask(original.shape, answer.result, AnonymizeOptions(mask=Mask.BOX, box_scale=1.0))
    assert np.abs(hidden - original)[outside].mean() <= 2


def test_blur_strength_follows_face_size(client: FaceServiceClient, reference_jpeg):
    """The same photo at 2.5x the size is blurred the same way, only bigger: large faces get no weaker blur."""
    small = decode(reference_jpeg)
    big = cv2.resize(small, None, fx=2.5, fy=2.5, interpolation=cv2.INTER_CUBIC)
    big_jpeg = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()

    blurred_small = grey(decode(client.blur(reference_jpeg).image))
    blurred_big = grey(decode(client.blur(big_jpeg).image))

    shrunk = cv2.resize(blurred_big, blurred_small.shape[::-1], interpolation=cv2.INTER_AREA)
    for x1, y1, x2, y2 in reference_boxes():
        face_small, face_big = blurred_small[y1:y2, x1:x2], shrunk[y1:y2, x1:x2]
        assert np.abs(face_big - face_small).mean() <= 3
        assert laplacian_energy(face_big) <= 1.5 * laplacian_energy(face_small) + 0.1
