"""What the gateway refuses at the door, and why it says so."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from gateway_service.uploads import describe_size, sniff_image_format, too_large_message
from tests.gateway.helpers import reference_jpeg

LIMIT = 1024 * 1024  # GATEWAY_MAX_UPLOAD_BYTES in tests/conftest.py


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "png"),
        (b"GIF89a\x01\x00", "gif"),
        (b"GIF87a\x01\x00", "gif"),
        (b"BM6\x00\x00\x00", "bmp"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "webp"),
        (b"II*\x00\x08\x00", "tiff"),
        (b"MM\x00*\x00\x00", "tiff"),
        (b"hello, world", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
)
def test_images_are_recognised_by_their_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_image_format(head) == expected


def test_sizes_are_described_for_people() -> None:
    assert describe_size(512) == "512 bytes"
    assert describe_size(20 * 1024 * 1024) == "20 MiB"
    assert describe_size(int(30.2 * 1024 * 1024)) == "30.2 MiB"
    assert too_large_message(int(30.2 * 1024 * 1024), 20 * 1024 * 1024) == (
        "upload is 30.2 MiB; the limit is 20 MiB (GATEWAY_MAX_UPLOAD_BYTES=20971520)"
    )


def multipart(fields: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand: (name, filename, content); filename '' for a plain field."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, filename, content in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        parts.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def chunked(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize(
    ("endpoint", "upload", "status", "reason"),
    [
        pytest.param("detect_faces", ("empty.jpg", b""), 400, "empty", id="an_empty_file_is_400"),
        pytest.param(
            "blur_faces",
            ("notes.txt", b"just some text, not a picture"),
            415,
            "not a supported image",
            id="a_file_that_is_not_an_image_is_415",
        ),
    ],
)
def test_a_file_with_no_image_in_it_is_refused_with_the_reason(
    api: httpx.Client, endpoint: str, upload: tuple[str, bytes], status: int, reason: str
) -> None:
    response = api.post(f"/{endpoint}", files={"file": upload})
    assert response.status_code == status
    assert reason in response.json()["detail"]


def test_a_request_without_the_file_field_is_400(api: httpx.Client) -> None:
    response = api.post("/detect_faces", data={"threshold": "0.5"}, files={"image": ("a.jpg", reference_jpeg())})
    assert response.status_code == 400
    assert "'file'" in response.json()["detail"]

    response = api.post("/blur_faces", content=reference_jpeg(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["detail"]


def test_two_files_are_two_tasks(api: httpx.Client) -> None:
    body, content_type = multipart([("file", "a.jpg", reference_jpeg()), ("file", "b.jpg", reference_jpeg())])
    response = api.post("/detect_faces", content=body, headers={"content-type": content_type})
    assert response.status_code == 202
    assert len(set(response.json()["task_ids"])) == 2


def test_an_upload_over_the_limit_is_413_naming_the_limit(api: httpx.Client) -> None:
    too_big = reference_jpeg() + bytes(LIMIT)
    response = api.post("/detect_faces", files={"file": ("big.jpg", too_big)})
    assert response.status_code == 413
    assert "GATEWAY_MAX_UPLOAD_BYTES=1048576" in response.json()["detail"]
    assert "the limit is 1 MiB" in response.json()["detail"]


def test_a_file_just_over_the_limit_is_413_with_its_exact_size(api: httpx.Client) -> None:
    # Within the allowance for the multipart envelope, so only the file's own size gives it away.
    response = api.post("/detect_faces", files={"file": ("big.jpg", reference_jpeg()[:3] + bytes(LIMIT))})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("upload is 1 MiB;")


def test_a_chunked_upload_over_the_limit_is_cut_off_with_413(api: httpx.Client) -> None:
    body, content_type = multipart([("file", "big.jpg", reference_jpeg() + bytes(3 * LIMIT))])
    sent = 0

    def stream() -> Iterator[bytes]:
        nonlocal sent
        for piece in chunked(body):
            sent += len(piece)
            yield piece

    try:
        response = api.post("/detect_faces", content=stream(), headers={"content-type": content_type})
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
        pytest.fail(f"the gateway closed the connection without a 413 after {sent} bytes")
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert "GATEWAY_MAX_UPLOAD_BYTES" in response.json()["detail"]


def test_out_of_range_options_are_422_naming_the_field(api: httpx.Client) -> None:
    for endpoint, field, value in [
        ("detect_faces", "threshold", "1.5"),
        ("detect_faces", "preset", "slowest"),
        ("blur_faces", "mode", "sparkle"),
        ("blur_faces", "mask", "star"),
        ("blur_faces", "box_scale", "3"),
        ("detect_faces", "draw", "perhaps"),
    ]:
        response = api.post(f"/{endpoint}", data={field: value}, files={"file": ("a.jpg", reference_jpeg())})
        assert response.status_code == 422, (field, response.text)
        assert field in response.text
