"""The demo page driven through its Gradio API (gradio_client), end to end through a live gateway."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from tests.demo.conftest import shopping_list
from tests.stack import REFERENCE_IMAGE

gradio_client = pytest.importorskip("gradio_client", reason="pip install -r requirements/demo.txt")

DEFAULTS = {"preset": "balanced", "threshold": 0, "mode": "blur", "mask": "ellipse", "box_scale": 1.4}


def process(page: gradio_client.Client, photo: Path, action: str, **options: object) -> tuple:
    chosen = DEFAULTS | options
    return page.predict(
        gradio_client.handle_file(str(photo)), action, chosen["preset"], chosen["threshold"], chosen["mode"],
        chosen["mask"], chosen["box_scale"], api_name="/process",
    )  # fmt: skip


def test_blur_shows_the_anonymized_photo_the_drawn_faces_and_the_json(page: gradio_client.Client) -> None:
    anonymized, detected, face_count, details = process(page, REFERENCE_IMAGE, "blur", mode="pixelate")

    assert face_count == 2
    assert cv2.imread(anonymized).shape[:2] == (1000, 1634)  # the gateway's image, served as it is
    assert cv2.imread(detected).shape[:2] == (1000, 1634)
    assert details["kind"] == "blur" and details["options"]["mode"] == "pixelate"
    assert set(details["faces"]) == {"face_1", "face_2"}
    assert "bytes, base64" in details["result"]  # the image is shown, not dumped into the JSON


def test_detect_shows_the_faces_without_an_anonymized_photo(page: gradio_client.Client) -> None:
    anonymized, detected, face_count, details = process(page, REFERENCE_IMAGE, "detect", preset="fast")

    assert anonymized is None and detected is not None
    assert face_count == 2
    assert details["preset"] == "fast" and set(details["result"]) == {"face_1", "face_2"}


def test_a_file_that_is_not_an_image_gets_a_clear_message(page: gradio_client.Client, tmp_path: Path) -> None:
    notes = shopping_list(tmp_path / "notes.jpg")

    with pytest.raises(gradio_client.exceptions.AppError, match=r"notes\.jpg: .*not a supported image.*JPEG"):
        process(page, notes, "blur")
