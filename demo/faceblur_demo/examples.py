"""Example photos for the page: none are shipped, they are found where they may be.

FACEBLUR_EXAMPLES (files or folders, separated by ':') wins when set. Otherwise: any image in the demo's own
examples/ folder (drop one there in a Space) and, in a checkout with ../shared beside it, the reference photo.
"""

from __future__ import annotations

import os
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent.parent
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def shared_dir() -> Path:
    return Path(os.environ.get("FACEBLUR_SHARED", DEMO_DIR.parent.parent / "shared"))


def find_examples(environ: dict[str, str] | None = None) -> list[Path]:
    environ = dict(os.environ) if environ is None else environ
    if environ.get("FACEBLUR_EXAMPLES"):
        places = [Path(p) for p in environ["FACEBLUR_EXAMPLES"].split(os.pathsep) if p]
    else:
        places = [DEMO_DIR / "examples", shared_dir() / "data" / "reference" / "test.jpg"]
    found: list[Path] = []
    for place in places:
        if place.is_dir():
            found.extend(sorted(p for p in place.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif place.is_file():
            found.append(place)
    return [path.resolve() for path in found]
