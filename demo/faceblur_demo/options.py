"""What the user asks for and what comes back, independent of where the faces are found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from faceblur_proto.vocabulary import DEFAULT_BOX_SCALE, DEFAULT_PRESET, LANDMARK_NAMES, PRESET_NAMES, Mask, Mode

Action = Literal["blur", "detect"]
PRESETS = PRESET_NAMES
MODES = tuple(mode.value for mode in Mode)
MASKS = tuple(mask.value for mask in Mask)
__all__ = ["DEFAULT_BOX_SCALE", "LANDMARK_NAMES", "MASKS", "MODES", "PRESETS", "DemoError", "Outcome", "Request"]


class DemoError(Exception):
    """A problem the user can fix (a bad file, an unreachable gateway); the message is shown as it is."""


@dataclass(frozen=True)
class Request:
    action: Action
    preset: str = DEFAULT_PRESET
    threshold: float | None = None  # None: the preset's own threshold
    mode: str = Mode.BLUR.value
    mask: str = Mask.ELLIPSE.value
    box_scale: float = DEFAULT_BOX_SCALE
    plates: bool = False  # licence plates too (listed; hidden in the same mode)

    @classmethod
    def from_controls(
        cls,
        action: str,
        preset: str,
        threshold: float,
        mode: str,
        mask: str,
        box_scale: float,
        plates: bool = False,
    ) -> Request:
        """What the page's controls ask for, given in their order."""
        return cls(
            action="blur" if action == "blur" else "detect",
            preset=preset,
            threshold=threshold or None,  # 0 on the slider: the preset's own threshold
            mode=mode,
            mask=mask,
            box_scale=box_scale,
            plates=plates,
        )


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
