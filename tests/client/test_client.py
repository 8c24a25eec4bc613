"""FaceBlurClient against a live stack: what a Python program using the client relies on."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceblur_client import ApiError, FaceBlurClient, GatewayUnreachable, TaskFailed
from tests.stack import REFERENCE_IMAGE, Stack, free_port

REFERENCE_BOXES = {"face_1": [220, 156, 623, 700], "face_2": [1044, 232, 1465, 795]}  # left to right


@pytest.fixture(scope="module")
def client(stack: Stack) -> FaceBlurClient:
    return FaceBlurClient(stack.gateway.url, timeout=120)


def test_detect_returns_the_reference_faces_left_to_right(client: FaceBlurClient) -> None:
    outcome = client.detect(REFERENCE_IMAGE)

    assert outcome.face_count == 2
    for name, expected in REFERENCE_BOXES.items():
        assert np.allclose(outcome.faces[name]["facial_area"], expected, atol=25), outcome.faces
        assert set(outcome.faces[name]["landmarks"]) >= {"left_eye", "right_eye", "nose"}
    assert outcome.image is None


def test_blur_returns_an_image_of_the_same_size_that_can_be_saved(client: FaceBlurClient, tmp_path) -> None:
    outcome = client.blur(REFERENCE_IMAGE.read_bytes(), filename="test.jpg", mode="pixelate", mask="box")

    saved = outcome.save(tmp_path / f"blurred{outcome.file_extension}")
    picture = cv2.imread(str(saved))
    assert saved.suffix == ".jpg" and picture.shape[:2] == (1000, 1634)
    assert outcome.face_count == 2 and set(outcome.faces) == {"face_1", "face_2"}
    assert outcome.task["options"] == {"mode": "pixelate", "mask": "box"}
    assert "<" in outcome.summary()["result"]  # summaries leave the base64 image out


def test_a_file_that_is_not_an_image_is_refused_with_the_reason(client: FaceBlurClient) -> None:
    with pytest.raises(ApiError) as refused:
        client.submit("detect", b"hello, I am a text file\n", filename="notes.txt")

    assert refused.value.status == 415
    assert "JPEG" in refused.value.detail


def test_a_corrupt_image_fails_its_task_with_the_reason(client: FaceBlurClient) -> None:
    truncated = REFERENCE_IMAGE.read_bytes()[:300]

    with pytest.raises(TaskFailed) as failed:
        client.detect(truncated, filename="broken.jpg")

    assert "corrupt" in failed.value.reason or "truncated" in failed.value.reason


def test_an_out_of_range_option_names_the_option(client: FaceBlurClient) -> None:
    with pytest.raises(ApiError) as refused:
        client.blur(REFERENCE_IMAGE, box_scale=9)

    assert refused.value.status == 422 and "box_scale" in refused.value.detail


def test_no_gateway_at_the_url_is_reported_as_unreachable() -> None:
    nobody = FaceBlurClient(f"http://127.0.0.1:{free_port()}", request_timeout=5)

    with pytest.raises(GatewayUnreachable, match="cannot reach the FaceBlur gateway"):
        nobody.detect(REFERENCE_IMAGE)
