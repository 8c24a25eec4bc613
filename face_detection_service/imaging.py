"""Bytes in, pixels out, and back: probe, decode (EXIF orientation applied) and encode images.

The header is read before any pixel is decoded, so a decompression bomb is refused by its declared size, and the
format found there decides how the anonymized image is encoded again (JPEG stays JPEG, PNG stays PNG).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from faceblur_proto.image_formats import DISPLAY_NAMES, SNIFF_BYTES, sniff_image_format

from .color_profile import with_color_profile

Image.MAX_IMAGE_PIXELS = None  # the service enforces its own limit, with a clearer message

SUPPORTED_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "GIF": "gif"}
# Formats we can write back; anything else (GIF, TIFF, BMP) is returned as PNG, losslessly.
ENCODABLE_FORMATS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}


class ImageError(ValueError):
    """The bytes are not an image this service can use; the message says why, for the end user."""


@dataclass(frozen=True)
class ImageHeader:
    format: str  # one of SUPPORTED_FORMATS' values
    width: int  # as the user sees it, after EXIF orientation
    height: int
    orientation: int  # EXIF orientation 1..8 (1 = as stored)
    icc_profile: bytes | None = None  # the colour profile, the one piece of metadata kept in outputs

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes, max_pixels: int) -> ImageHeader:
    """Identify the format and size without decoding pixels; refuse what is empty, unknown or too large."""
    if not data:
        raise ImageError("the image is empty (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            pil_format, (width, height) = probe.format or "", probe.size
            orientation = _exif_orientation(probe)
            icc_profile = probe.info.get("icc_profile") or None
    except UnidentifiedImageError:
        claimed = sniff_image_format(data[:SNIFF_BYTES])
        if claimed:
            raise ImageError(
                f"the data starts like a {DISPLAY_NAMES[claimed]} file but its header is corrupt"
            ) from None
        raise ImageError(
            f"not a supported image ({_describe_start(data)}); send JPEG, PNG, WebP, BMP, TIFF or GIF"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image header is corrupt: {exc}") from None
    if pil_format not in SUPPORTED_FORMATS:
        raise ImageError(f"unsupported image format {pil_format or 'unknown'}; send JPEG, PNG, WebP, BMP, TIFF or GIF")
    if width * height > max_pixels:
        raise ImageError(
            f"image is {width}x{height} = {width * height / 1e6:.1f} megapixels; the limit is "
            f"{max_pixels / 1e6:.1f} megapixels (FACE_MAX_PIXELS)"
        )
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageHeader(SUPPORTED_FORMATS[pil_format], width, height, orientation, icc_profile)


def decode(data: bytes, header: ImageHeader, reduce: int = 1) -> np.ndarray:
    """Decode to pixels as the user sees them: uint8 or uint16, 1, 3 (BGR) or 4 (BGRA) channels.

    `reduce` (1, 2, 4 or 8) decodes JPEGs at that fraction of the size directly in the decoder, which is much
    faster than decoding at full size; callers that only detect use it, since the model sees ~640 px anyway.
    """
    buffer = np.frombuffer(data, np.uint8)
    if reduce > 1:
        flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}[reduce]
        image = cv2.imdecode(buffer, flag | cv2.IMREAD_IGNORE_ORIENTATION)
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"the {header.format.upper()} data is truncated or corrupt and cannot be decoded")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return apply_orientation(image, header.orientation)


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip stored pixels so they look as the EXIF orientation tag says the photo should."""
    transforms = {
        2: lambda im: cv2.flip(im, 1),
        3: lambda im: cv2.rotate(im, cv2.ROTATE_180),
        4: lambda im: cv2.flip(im, 0),
        5: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE), 1),
        6: lambda im: cv2.rotate(im, cv2.ROTATE_90_CLOCKWISE),
        7: lambda im: cv2.flip(cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE), 1),
        8: lambda im: cv2.rotate(im, cv2.ROTATE_90_COUNTERCLOCKWISE),
    }
    transform = transforms.get(orientation)
    return transform(image) if transform else image


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """The model's view of any decoded image: 8-bit, 3-channel RGB."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def output_format(input_format: str) -> str:
    return input_format if input_format in ENCODABLE_FORMATS else "png"


JPEG_QUALITY = 95


def encode(image: np.ndarray, image_format: str, icc_profile: bytes | None = None) -> bytes:
    """Encode in `image_format` (from `output_format`): JPEG at high quality, PNG and WebP losslessly, with the
    colour profile if one is given and no other metadata."""
    params: list[int] = []
    if image_format == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
        if image.dtype != np.uint8 or (image.ndim == 3 and image.shape[2] == 4):
            image = cv2.cvtColor(to_rgb8(image), cv2.COLOR_RGB2BGR)
    elif image_format == "webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 101]  # >100 means lossless
        if image.dtype != np.uint8:
            image = cv2.cvtColor(to_rgb8(image), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(ENCODABLE_FORMATS[image_format], image, params)
    if not ok:
        raise RuntimeError(f"could not encode the result as {image_format}")
    return with_color_profile(encoded.tobytes(), image_format, icc_profile)


EXIF_ORIENTATION_TAG = 0x0112


def _exif_orientation(probe: Image.Image) -> int:
    try:
        orientation = int(probe.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:  # a malformed EXIF block must not make a good photo unusable
        return 1
    return orientation if 1 <= orientation <= 8 else 1


def _describe_start(data: bytes) -> str:
    head = data[:64].lstrip()
    if head[:1] == b"<":
        return "looks like HTML/XML text"
    if head[:2] == b"PK":
        return "looks like a ZIP archive"
    if head[:4] == b"%PDF":
        return "looks like a PDF"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "looks like plain text"
    return f"starts with bytes {data[:8].hex(' ')}"
