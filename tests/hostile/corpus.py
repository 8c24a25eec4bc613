"""Hostile and unusual uploads, all generated here (no binary files in the repository).

Each case says what a user must get back: an HTTP refusal at upload with a message naming the problem, a task
that ends FAILURE with such an error, or SUCCESS for images that are merely unusual.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from tests.gateway.helpers import small_jpeg


@dataclass(frozen=True)
class Upload:
    """A multipart upload: (field name, filename, bytes, content type) parts."""

    parts: tuple[tuple[str, str, bytes, str], ...]
    content_type_override: str | None = None  # send the first part's bytes raw with this Content-Type


@dataclass(frozen=True)
class Case:
    name: str
    upload: Upload
    expect: str  # "SUCCESS", "FAILURE" or an HTTP status like "415"
    says: tuple[str, ...] = field(default_factory=tuple)  # words the error message must contain (any case)


def one_file(data: bytes, filename: str = "image.bin", content_type: str = "application/octet-stream") -> Upload:
    return Upload((("file", filename, data, content_type),))


def photo(width: int = 320) -> np.ndarray:
    jpeg = np.frombuffer(small_jpeg(width), np.uint8)
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def encode(extension: str, pixels: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, data = cv2.imencode(extension, pixels, params or [])
    assert ok, extension
    return data.tobytes()


def pil_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def rgb_pil(width: int = 320) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(photo(width), cv2.COLOR_BGR2RGB))


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height grey pixels, with one small compressed row (never decoded)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def jpeg_with_huge_exif(size: int = 60_000) -> bytes:
    """A JPEG with an APP1 Exif segment nearly as large as a segment may be (64 KiB), full of junk."""
    jpeg = small_jpeg(320)
    payload = b"Exif\x00\x00" + b"MM\x00*\x00\x00\x00\x08" + b"\xab" * size
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def animated_gif() -> bytes:
    frames = [rgb_pil(160).convert("P"), Image.new("P", (160, 120), 3)]
    return pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def a_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("photo.jpg", small_jpeg(160))
    return buffer.getvalue()


def cases() -> list[Case]:
    jpeg = small_jpeg(320)
    dot = encode(".png", np.zeros((1, 1, 3), np.uint8))
    png = encode(".png", photo())
    grey = cv2.cvtColor(photo(), cv2.COLOR_BGR2GRAY)
    alpha = cv2.cvtColor(photo(), cv2.COLOR_BGR2BGRA)
    alpha[:, :, 3] = 128
    deep = photo().astype(np.uint16) * 257
    return [
        Case("zero bytes", one_file(b"", "empty.jpg"), "400", ("empty",)),
        Case(
            "truncated jpeg", one_file(jpeg[: len(jpeg) // 3], "cut.jpg"), "FAILURE", ("JPEG", "truncated or corrupt")
        ),
        Case("truncated png", one_file(png[: len(png) // 3], "cut.png"), "FAILURE", ("PNG", "truncated or corrupt")),
        Case("jpeg header only", one_file(jpeg[:20], "head.jpg"), "FAILURE", ("JPEG", "corrupt")),
        Case(
            "text named .jpg",
            one_file(b"hello, I am not a photo\n" * 10, "photo.jpg", "image/jpeg"),
            "415",
            ("not a supported image",),
        ),
        Case(
            "html",
            one_file(b"<!doctype html><html><script>alert(1)</script></html>", "x.jpg", "text/html"),
            "415",
            ("not a supported image",),
        ),
        Case("zip", one_file(a_zip(), "photo.zip", "application/zip"), "415", ("not a supported image",)),
        Case("gif", one_file(pil_bytes(rgb_pil(160).convert("P"), "GIF"), "still.gif", "image/gif"), "SUCCESS"),
        Case("animated gif", one_file(animated_gif(), "anim.gif", "image/gif"), "SUCCESS"),
        Case("webp", one_file(encode(".webp", photo()), "p.webp", "image/webp"), "SUCCESS"),
        Case("bmp", one_file(encode(".bmp", photo()), "p.bmp", "image/bmp"), "SUCCESS"),
        Case("tiff", one_file(encode(".tiff", photo()), "p.tiff", "image/tiff"), "SUCCESS"),
        Case("cmyk jpeg", one_file(pil_bytes(rgb_pil().convert("CMYK"), "JPEG"), "cmyk.jpg", "image/jpeg"), "SUCCESS"),
        Case("16-bit png", one_file(encode(".png", deep), "deep.png", "image/png"), "SUCCESS"),
        Case("grayscale jpeg", one_file(encode(".jpg", grey), "grey.jpg", "image/jpeg"), "SUCCESS"),
        Case("png with alpha", one_file(encode(".png", alpha), "alpha.png", "image/png"), "SUCCESS"),
        Case("1x1 pixel", one_file(dot, "dot.png", "image/png"), "SUCCESS"),
        Case(
            "20000x20000 png bomb",
            one_file(png_bomb(20000, 20000), "bomb.png", "image/png"),
            "FAILURE",
            ("FACE_MAX_PIXELS",),
        ),
        Case("huge exif block", one_file(jpeg_with_huge_exif(), "exif.jpg", "image/jpeg"), "SUCCESS"),
        Case("wrong content type", one_file(jpeg, "p.jpg", "application/pdf"), "SUCCESS"),
        Case(
            "raw body, not multipart",
            Upload((("file", "p.jpg", jpeg, "image/jpeg"),), "image/jpeg"),
            "400",
            ("multipart/form-data",),
        ),
        Case("missing file field", Upload((("image", "p.jpg", jpeg, "image/jpeg"),)), "400", ("'file'",)),
        Case(
            "33 files, one more than allowed",
            Upload(tuple(("file", f"{n}.png", dot, "image/png") for n in range(33))),
            "400",
            ("GATEWAY_MAX_FILES_PER_REQUEST",),
        ),
        Case("path traversal filename", one_file(jpeg, "../../../../etc/passwd"), "SUCCESS"),
        Case("absolute windows filename", one_file(jpeg, "C:\\Windows\\system32\\x.jpg"), "SUCCESS"),
        Case("unicode filename", one_file(jpeg, "фото 照片 😀.jpg"), "SUCCESS"),
        Case("nul in filename", one_file(jpeg, "a\x00b.jpg"), "SUCCESS"),
        Case(
            "png magic, garbage after",
            one_file(b"\x89PNG\r\n\x1a\n" + b"\x00" * 500, "junk.png"),
            "FAILURE",
            ("PNG", "corrupt"),
        ),
        Case(
            "riff webp header, garbage",
            one_file(b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\xff" * 100, "junk.webp"),
            "FAILURE",
            ("image",),
        ),
    ]
