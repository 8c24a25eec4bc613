"""The image formats FaceBlur accepts, known by their first bytes (never by file name or Content-Type)."""

from __future__ import annotations

# Format names as the API reports them (image_format), lower case.
ACCEPTED_FORMATS = ("jpeg", "png", "gif", "bmp", "webp", "tiff")
# As people write them, for messages.
DISPLAY_NAMES = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP", "webp": "WebP", "tiff": "TIFF"}
# How many leading bytes `sniff_image_format` needs to tell every accepted format apart.
SNIFF_BYTES = 12

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def sniff_image_format(head: bytes) -> str | None:
    """The accepted format named by the file's first bytes, or None if it is none of ACCEPTED_FORMATS."""
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((name for signature, name in _SIGNATURES if head.startswith(signature)), None)
