"""Photos as users send them: rotated phone pictures, grey, transparent and 16-bit images, every format."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from face_detection_service.client import FaceServiceClient

from .faces import best_iou_per_reference, decode


def reference_rgb(reference_jpeg: bytes) -> np.ndarray:
    return cv2.cvtColor(decode(reference_jpeg), cv2.COLOR_BGR2RGB)


def boxes(answer) -> list[list[float]]:
    return [[f.x1, f.y1, f.x2, f.y2] for f in answer.result.faces]


def test_exif_orientation_is_applied_and_boxes_are_in_displayed_coordinates(client, reference_jpeg):
    upright = reference_rgb(reference_jpeg)
    # Store the pixels rotated a quarter turn and tag them "rotate 90 CW to display" (orientation 6), as phones do.
    stored = np.ascontiguousarray(np.rot90(upright, k=1))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, "JPEG", quality=95, exif=exif.tobytes())

    detected = client.detect(buffer.getvalue())
    blurred = client.blur(buffer.getvalue())

    assert (detected.result.image_width, detected.result.image_height) == (1634, 1000)
    assert min(best_iou_per_reference(boxes(detected))) >= 0.9
    assert decode(blurred.image).shape[:2] == (1000, 1634)


@pytest.mark.parametrize("variant", ["grey", "alpha", "16-bit", "16-bit-alpha"])
def test_unusual_pixel_formats_work_and_keep_their_format(client: FaceServiceClient, reference_jpeg, variant):
    bgr = decode(reference_jpeg)
    image = {
        "grey": lambda: cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY),
        "alpha": lambda: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "16-bit": lambda: bgr.astype(np.uint16) * 257,
        "16-bit-alpha": lambda: cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA).astype(np.uint16) * 257,
    }[variant]()
    data = cv2.imencode(".png", image)[1].tobytes()

    detected = client.detect(data)
    blurred = client.blur(data)

    assert min(best_iou_per_reference(boxes(detected))) >= 0.9
    assert blurred.result.image_format == "png"
    output = decode(blurred.image)
    assert output.shape == image.shape and output.dtype == image.dtype


@pytest.mark.parametrize(
    ("extension", "expected_format"),
    [(".jpg", "jpeg"), (".png", "png"), (".webp", "webp"), (".bmp", "png"), (".tiff", "png")],
)
def test_output_keeps_the_input_format_where_it_can(client, reference_jpeg, extension, expected_format):
    data = cv2.imencode(extension, decode(reference_jpeg))[1].tobytes()

    blurred = client.blur(data)

    assert blurred.error is None, blurred.error
    assert blurred.result.image_format == expected_format
    assert decode(blurred.image).shape[:2] == (1000, 1634)


def test_gif_and_tiny_images_work(client: FaceServiceClient, reference_jpeg):
    buffer = io.BytesIO()
    Image.fromarray(reference_rgb(reference_jpeg)).save(buffer, "GIF")
    assert len(client.detect(buffer.getvalue()).result.faces) == 2

    one_pixel = cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes()
    answer = client.blur(one_pixel)
    assert answer.error is None and len(answer.result.faces) == 0
    assert decode(answer.image).shape[:2] == (1, 1)
