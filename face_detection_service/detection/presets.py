"""Named detection presets: how hard to look for faces, and at what cost (figures: bench/ACCURACY.md).

    fast        one pass over the whole image at the model input size (640 px).
    balanced    (default) the whole image plus a grid of at most 4 tiles that see it up to twice as large, so
                faces down to ~10 px in a 1024 px photo are found; tiles holding a face the model is unsure of
                get a second, mirrored look, and faces are scored by the looks' agreement (fusion.vote);
                a photo taken sideways or upside down is found (one pass over a mosaic of its four turns) and
                looked at the right way up; about 6.5 model passes per photo.
    max_recall  the whole image, at most 6 tiles, and CenterFace over the image at the tiles' scale, fused with
                CenterFace's scores mapped onto YOLO's, run the way up whose whole-image pass finds most of the
                four turns (and sure faces of the other turns kept: people lying down); for when a missed face is
                unacceptable (several times slower, and more false boxes).

Video uses fast (DEFAULT_VIDEO_PRESET): a turned video is turned as a whole by its rotation metadata.

Thresholds are read off each preset's own precision-recall curve (bench.accuracy over all 1,239 WIDER FACE
images): the most recall at a floor of precision, since a missed face is a privacy leak but a photo full of
needless blur is useless too. fast: precision >= 0.90 (threshold 0.13); balanced: >= 0.93 with a small margin
(0.18: P 0.935, R 0.924); max_recall: >= 0.85 (0.18: P 0.851, R 0.950).
Scores are on the primary model's scale (YOLOv8n-face int8 tops out near 0.85); CenterFace's are mapped onto it
(fusion.CENTERFACE_TO_YOLO).
"""

from __future__ import annotations

from dataclasses import dataclass

from faceblur_proto.vocabulary import DEFAULT_PRESET, PRESET_NAMES


@dataclass(frozen=True)
class Preset:
    name: str
    score_threshold: float  # on the primary model's scale; CenterFace scores are mapped onto it
    # The detector never needs more than this many pixels on the long side (tiles included), so callers may
    # decode or shrink larger images to it first.
    max_side: int = 640
    max_tiles: int = 0  # zoomed-in tiles on top of the whole-image pass; 0: the whole image only
    tile_zoom: float = 2.0  # tiles see the image at most this many times larger than the whole-image pass
    fuse_centerface: bool = False
    # Tiles holding a face the model is unsure of are looked at again, mirrored, and each face is scored by the
    # mean of the looks responsible for it (fusion.vote) instead of the best one.
    second_look: bool = False
    # Photos taken sideways or upside down (no EXIF orientation) are found and looked at the right way up.
    find_turned: bool = False
    # Look at the photo turned all four ways (whole-image passes), run the full preset the way up that finds most,
    # and keep sure faces found any other way up: the thorough form of find_turned.
    all_turns: bool = False


def by_name(*presets: Preset) -> dict[str, Preset]:
    """Presets keyed by their names, in the order given."""
    return {preset.name: preset for preset in presets}


PRESETS = by_name(
    Preset("fast", score_threshold=0.13, max_side=640),
    Preset("balanced", score_threshold=0.18, max_side=1280, max_tiles=4, second_look=True, find_turned=True),
    Preset(
        "max_recall",
        score_threshold=0.18,
        max_side=1920,
        max_tiles=6,
        tile_zoom=2.5,
        fuse_centerface=True,
        all_turns=True,
    ),
)
assert tuple(PRESETS) == PRESET_NAMES, "the presets here and the API's PRESET_NAMES must match"
__all__ = ["DEFAULT_PRESET", "PRESETS", "Preset", "by_name", "get_preset"]


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name or DEFAULT_PRESET]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
