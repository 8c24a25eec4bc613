"""Named detection presets: how hard to look for faces, and at what cost.

    fast        one pass over the whole image at the model's input size.
    balanced    the whole image plus overlapping full-resolution tiles when the image is larger than the model
                input, so small faces in big photos are seen at their real size (default).
    max_recall  balanced, plus CenterFace over the whole image, fused; for when a missed face is unacceptable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    score_threshold: float  # for the primary (YOLO) model
    # Images are looked at with their long side at most this many pixels (tiles cover the rest of the detail).
    max_side: int = 640
    tile: bool = False
    # Tiles are used only when the image's long side exceeds the model input by this factor.
    tile_trigger: float = 1.25
    tile_overlap: float = 0.25
    fuse_centerface: bool = False
    centerface_threshold: float = 0.5


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("fast", score_threshold=0.3, max_side=640),
        Preset("balanced", score_threshold=0.3, max_side=1920, tile=True),
        Preset(
            "max_recall", score_threshold=0.2, max_side=2560, tile=True, fuse_centerface=True,
            centerface_threshold=0.4,
        ),
    )
}
DEFAULT_PRESET = "balanced"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name or DEFAULT_PRESET]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
