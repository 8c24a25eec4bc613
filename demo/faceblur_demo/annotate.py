"""The original photo with each face's box, confidence and landmarks drawn on it, from the API's JSON."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from faceblur_demo.options import LANDMARK_NAMES, DemoError
from faceblur_proto.main_face import Candidate, main_face

BOX_COLOUR = (0, 200, 0)
MAIN_FACE_COLOUR = (255, 170, 0)  # the face that stands for the photo where one is needed (enroll, verify)
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
    """A copy of `picture` with the faces drawn; lines and labels follow the image size, dots the face size. With
    several faces, the main one (the one enrolling or verify would take: faceblur_proto.main_face) is drawn in
    orange and labelled "main"."""
    canvas = picture.copy()
    pen = ImageDraw.Draw(canvas)
    line = max(1, round(max(canvas.size) / 400))
    font_size = max(10, round(max(canvas.size) / 60))
    main = main_face_name(faces, *canvas.size) if len(faces) > 1 else None
    for name, face in faces.items():
        x1, y1, x2, y2 = face["facial_area"]
        colour = MAIN_FACE_COLOUR if name == main else BOX_COLOUR
        pen.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        label = f"{name}  {face['confidence']:.2f}" if "confidence" in face else name
        label += "  main" if name == main else ""
        pen.text((x1, max(0, y1 - font_size - 2 * line)), label, fill=colour, font_size=font_size)
        radius = max(1.5, min(x2 - x1, y2 - y1) / 40)
        for point_name, (x, y) in face.get("landmarks", {}).items():
            colour = LANDMARK_COLOURS.get(point_name, BOX_COLOUR)
            pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return canvas


def main_face_name(faces: dict[str, Any], width: int, height: int) -> str | None:
    """The name (face_N) of the photo's main face by the rule the gateway applies, or None without faces."""
    names = list(faces)
    candidates = [Candidate(faces[n]["facial_area"], float(faces[n].get("confidence", 1.0))) for n in names]
    index = main_face(candidates, width, height)
    return None if index is None else names[index]
