"""Put the input's ICC colour profile into an encoded output image, and nothing else from the input.

OpenCV writes no metadata at all (no EXIF, XMP, IPTC or comments: nothing to leak), but also drops the colour
profile, which shifts the colours of wide-gamut photos (Display P3, Adobe RGB). These functions add the profile
back at the byte level, so the pixels stay exactly as encoded.
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

_JPEG_ICC_MARKER = b"ICC_PROFILE\x00"
_JPEG_SEGMENT_MAX = 65535 - 2 - len(_JPEG_ICC_MARKER) - 2  # length field, marker, sequence number and count


def with_color_profile(encoded: bytes, image_format: str, icc_profile: bytes | None) -> bytes:
    """``encoded`` (as OpenCV wrote it) carrying ``icc_profile``; unchanged when there is no profile."""
    if not icc_profile:
        return encoded
    if image_format == "jpeg":
        return _jpeg_with_profile(encoded, icc_profile)
    if image_format == "png":
        return _png_with_profile(encoded, icc_profile)
    if image_format == "webp":
        return _webp_with_profile(encoded, icc_profile)
    return encoded


def _jpeg_with_profile(encoded: bytes, profile: bytes) -> bytes:
    """APP2 ICC_PROFILE segments right after SOI (the profile split in numbered pieces, as the ICC spec says)."""
    pieces = [profile[i : i + _JPEG_SEGMENT_MAX] for i in range(0, len(profile), _JPEG_SEGMENT_MAX)]
    segments = b"".join(
        b"\xff\xe2"
        + struct.pack(">H", 2 + len(_JPEG_ICC_MARKER) + 2 + len(piece))
        + _JPEG_ICC_MARKER
        + bytes([number, len(pieces)])
        + piece
        for number, piece in enumerate(pieces, start=1)
    )
    return encoded[:2] + segments + encoded[2:]


def _png_with_profile(encoded: bytes, profile: bytes) -> bytes:
    """An iCCP chunk right after IHDR (signature 8 bytes + IHDR 25 bytes)."""
    data = b"icc\x00\x00" + zlib.compress(profile)
    chunk = struct.pack(">I", len(data)) + b"iCCP" + data + struct.pack(">I", zlib.crc32(b"iCCP" + data))
    return encoded[:33] + chunk + encoded[33:]


def _webp_with_profile(encoded: bytes, profile: bytes) -> bytes:
    """WebP keeps a profile only in its extended container: re-wrap the (lossless) pixels with Pillow."""
    with Image.open(io.BytesIO(encoded)) as image:
        output = io.BytesIO()
        image.save(output, "WEBP", lossless=True, icc_profile=profile, exact=True)
    return output.getvalue()
