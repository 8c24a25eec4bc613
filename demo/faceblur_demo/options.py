"""What the user asks for and what comes back, independent of where the faces are found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["blur", "detect"]
PRESETS = ("fast", "balanced", "max_recall")
MODES = ("blur", "pixelate", "solid")
MASKS = ("ellipse", "box")
DEFAULT_BOX_SCALE = 1.4
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class DemoError(Exception):
    """A problem the user can fix (a bad file, an unreachable gateway); the message is shown as it is."""


@dataclass(frozen=True)
class Request:
    action: Action
    preset: str = "balanced"
    threshold: float | None = None  # None: the preset's own threshold
    mode: str = "blur"
    mask: str = "ellipse"
    box_scale: float = DEFAULT_BOX_SCALE


@dataclass(frozen=True)
class Outcome:
    """faces: the API's listing ({"face_1": {"facial_area": [...], "confidence": ..., "landmarks": {...}}});
    details: the JSON shown to the user (the API's task result, images left out)."""

    faces: dict[str, Any]
    details: dict[str, Any]
    image: bytes | None = None  # the anonymized image (blur)
    image_format: str = "jpeg"

    @property
    def face_count(self) -> int:
        return len(self.faces)
