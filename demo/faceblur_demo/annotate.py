"""The original photo with each face's box, confidence and landmarks drawn on it, from the API's JSON."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from faceblur_demo.options import LANDMARK_NAMES, DemoError

BOX_COLOUR = (0, 200, 0)
LANDMARK_COLOURS = dict(
    zip(LANDMARK_NAMES, ((0, 0, 255), (255, 0, 0), (255, 255, 0), (255, 0, 255), (0, 255, 255)), strict=True)
)


def viewable(image: bytes) -> Image.Image:
    """The photo as the user sees it (EXIF orientation applied, as the service applies it), 8-bit RGB."""
    try:
        picture = Image.open(io.BytesIO(image))
        picture = ImageOps.exif_transpose(picture)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DemoError(f"cannot show this image: {error}") from None
    if picture.mode.startswith("I;16") or picture.mode == "I":  # 16-bit greyscale: keep the top 8 bits
        picture = Image.fromarray((np.asarray(picture).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8))
    return picture.convert("RGB")


def draw_faces(picture: Image.Image, faces: dict[str, Any]) -> Image.Image:
    """A copy of `picture` with the faces drawn; lines and labels follow the image size, dots the face size."""
    canvas = picture.copy()
    pen = ImageDraw.Draw(canvas)
    line = max(1, round(max(canvas.size) / 400))
    font_size = max(10, round(max(canvas.size) / 60))
    for name, face in faces.items():
        x1, y1, x2, y2 = face["facial_area"]
        pen.rectangle((x1, y1, x2, y2), outline=BOX_COLOUR, width=line)
        label = f"{name}  {face['confidence']:.2f}" if "confidence" in face else name
        pen.text((x1, max(0, y1 - font_size - 2 * line)), label, fill=BOX_COLOUR, font_size=font_size)
        radius = max(1.5, min(x2 - x1, y2 - y1) / 40)
        for point_name, (x, y) in face.get("landmarks", {}).items():
            colour = LANDMARK_COLOURS.get(point_name, BOX_COLOUR)
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return canvas
