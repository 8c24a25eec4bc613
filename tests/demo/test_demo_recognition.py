"""The demo's Recognition tab: enroll a person, then blur a photo sparing them (gateway mode, through
gradio_client), and the clear message the in-process mode gives instead."""

from __future__ import annotations

import uuid

import cv2
import pytest
from faceblur_demo.backends import RECOGNITION_NEEDS_GATEWAY, LocalBackend
from faceblur_demo.options import DemoError

from tests.demo.conftest import markdown_shown
from tests.stack import REPO_ROOT

gradio_client = pytest.importorskip("gradio_client", reason="pip install -r requirements/demo.txt")

LFW = REPO_ROOT.parent / "shared" / "data" / "lfw_dev" / "images"


def lfw(person: str, number: int) -> str:
    return str(LFW / person / f"{person}_{number:04d}.jpg")


def test_enrolled_people_stay_visible_and_the_others_are_blurred(page: gradio_client.Client) -> None:
    gallery = f"demo-test-{uuid.uuid4().hex[:8]}"
    photo = gradio_client.handle_file(lfw("Colin_Powell", 2))

    enrolled = page.predict(
        gallery, "Colin Powell", gradio_client.handle_file(lfw("Colin_Powell", 1)), api_name="/enroll"
    )
    spared, spared_faces = page.predict(gallery, photo, "spare", api_name="/blur_by_gallery")
    hidden, hidden_faces = page.predict(gallery, photo, "only", api_name="/blur_by_gallery")

    assert enrolled["subject"] == "Colin Powell" and enrolled["gallery_subjects"] == {"Colin Powell": 1}
    assert cv2.imread(spared).shape[:2] == cv2.imread(hidden).shape[:2] == (250, 250)
    for faces, colin_hidden in ((spared_faces, False), (hidden_faces, True)):
        colin = [face for face in faces.values() if face["subject"] == "Colin Powell"]
        assert [face["anonymized"] for face in colin] == [colin_hidden], faces
        assert all(face["anonymized"] is not colin_hidden for face in faces.values() if face["subject"] is None)


def test_a_missing_name_or_an_unknown_gallery_gets_a_clear_message(page: gradio_client.Client) -> None:
    photo = gradio_client.handle_file(lfw("Colin_Powell", 1))

    with pytest.raises(gradio_client.exceptions.AppError, match="the person's name"):
        page.predict("demo-test", " ", photo, api_name="/enroll")
    with pytest.raises(gradio_client.exceptions.AppError, match="no gallery 'nobody-"):
        page.predict(f"nobody-{uuid.uuid4().hex[:8]}", photo, "spare", api_name="/blur_by_gallery")


def test_in_process_the_tab_says_recognition_needs_a_gateway(local_backend: LocalBackend) -> None:
    from faceblur_demo.recognition import recognition_tab

    assert markdown_shown(recognition_tab, local_backend) == [RECOGNITION_NEEDS_GATEWAY]
    with pytest.raises(DemoError, match="needs a running FaceBlur gateway"):
        local_backend.enroll("staff", "Ada", b"", "ada.jpg")
