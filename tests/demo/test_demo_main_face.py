"""The demo marks a photo's main face by the gateway's own rule (faceblur_proto.main_face)."""

from __future__ import annotations

import numpy as np
from faceblur_demo.annotate import BOX_COLOUR, MAIN_FACE_COLOUR, draw_faces, main_face_name
from PIL import Image


def test_the_main_face_is_drawn_apart_and_is_the_rules_choice() -> None:
    faces = {
        "face_1": {"facial_area": [10, 10, 60, 70], "confidence": 0.8},  # larger, in a corner
        "face_2": {"facial_area": [170, 120, 210, 170], "confidence": 0.8},  # in the middle
    }
    picture = Image.new("RGB", (400, 300), (255, 255, 255))

    drawn = np.asarray(draw_faces(picture, faces))

    assert main_face_name(faces, 400, 300) == "face_2"
    assert tuple(drawn[120, 190]) == MAIN_FACE_COLOUR and tuple(drawn[10, 30]) == BOX_COLOUR
    assert main_face_name({}, 400, 300) is None
