"""The photos the speed benchmarks share: the reference photo, then WIDER FACE and face-mask photos alternately."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("FACEBLUR_SHARED", Path(__file__).resolve().parent.parent.parent / "shared"))


def sample_photo_paths(count: int) -> list[Path]:
    data = SHARED / "data"
    wider = sorted((data / "wider_train" / "images").rglob("*.jpg"))
    masks = sorted((data / "face_mask" / "images").glob("*.jpg"))
    paths = [data / "reference" / "test.jpg"]
    for a, b in zip(wider[:: max(1, len(wider) // count)], masks[:: max(1, len(masks) // count)], strict=False):
        paths += [a, b]
    return paths[:count]
