"""The words of the FaceBlur API, defined once: what a job is, its options and their ranges, and how faces are listed.

The enums carry the API's names (``"blur"``, ``"ellipse"``...); ``to_proto``/``from_proto`` map them onto the
proto enums by name (``Mode.PIXELATE`` <-> ``ANONYMIZATION_MODE_PIXELATE``), so a value added to the proto and
here needs no mapping table. Pure Python: importing it needs no generated code.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar


class JobKind(str, Enum):
    """What one face-service job does: find the faces, hide them, or find and embed them."""

    DETECT = "detect"
    BLUR = "blur"
    EMBED = "embed"  # the faces, each with its embedding (recognition)
    DETECT_VIDEO = "detect_video"  # the faces of a video segment's detected frames
    BLUR_VIDEO = "blur_video"  # a video segment with the given faces hidden, written to the media directory

    @property
    def is_video(self) -> bool:
        """The one answer to "is this a video job?": it works on a video segment, not on images."""
        return self in (JobKind.DETECT_VIDEO, JobKind.BLUR_VIDEO)

    @classmethod
    def named(cls, video: bool) -> str:
        """The proto names of the image (or video) job kinds, for a message: "DETECT, BLUR or EMBED"."""
        names = [kind.name for kind in cls if kind.is_video == video]
        return f"{', '.join(names[:-1])} or {names[-1]}"


class TaskKind(str, Enum):
    """What a user asked the API for; each task runs one or more face-service jobs of its ``job_kind``."""

    DETECT = "detect"
    BLUR = "blur"
    EMBED = "embed"  # /embed_faces
    VERIFY = "verify"  # /verify_faces: two images, one person?
    ENROLL = "enroll"  # /galleries/{gallery}/subjects/{subject}/faces
    IDENTIFY = "identify"  # /galleries/{gallery}/identify
    BLUR_VIDEO = "blur_video"  # /blur_video: detect-video jobs per segment, tracking, then blur-video jobs

    @property
    def job_kind(self) -> JobKind:
        """The kind of the task's main job (a video task also runs DETECT_VIDEO jobs first)."""
        return _MAIN_JOB_KINDS[self]


# Every task kind names its job kind here: a kind added to TaskKind without a line here fails its first use (and the
# vocabulary test) instead of quietly running embed jobs.
_MAIN_JOB_KINDS = {
    TaskKind.DETECT: JobKind.DETECT,
    TaskKind.BLUR: JobKind.BLUR,
    TaskKind.EMBED: JobKind.EMBED,
    TaskKind.VERIFY: JobKind.EMBED,
    TaskKind.ENROLL: JobKind.EMBED,
    TaskKind.IDENTIFY: JobKind.EMBED,
    TaskKind.BLUR_VIDEO: JobKind.BLUR_VIDEO,
}


class Mode(str, Enum):
    """How a face is hidden."""

    BLUR = "blur"  # Gaussian blur whose strength scales with the face size
    PIXELATE = "pixelate"  # coarse mosaic
    SOLID = "solid"  # filled with a flat colour


class Mask(str, Enum):
    """The shape that is hidden inside each (scaled) face box."""

    ELLIPSE = "ellipse"
    BOX = "box"


class PresetName(str, Enum):
    """How hard to look for faces, cheapest first (parameters: face_detection_service/detection/presets.py)."""

    FAST = "fast"
    BALANCED = "balanced"
    MAX_RECALL = "max_recall"


PRESET_NAMES = tuple(preset.value for preset in PresetName)
DEFAULT_PRESET = PresetName.BALANCED.value
DEFAULT_MODE = Mode.BLUR
DEFAULT_MASK = Mask.ELLIPSE
# The ellipse in a 1.4x box almost reaches the detected box's corners.
DEFAULT_BOX_SCALE = 1.4

# The five landmarks of each face, in the model's and the proto's order.
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Range:
    """An option's closed range of valid values; ``check`` raises ValueError naming the option."""

    name: str
    low: float
    high: float

    def contains(self, value: float) -> bool:
        return math.isfinite(value) and self.low <= value <= self.high

    def check(self, value: float) -> float:
        if not self.contains(value):
            raise ValueError(f"{self.name} must be between {self.low:g} and {self.high:g}, got {value:g}")
        return value


THRESHOLD_RANGE = Range("threshold", 0.0, 1.0)
# Never below 1: a box shrunk around a face would leave its edges visible.
BOX_SCALE_RANGE = Range("box_scale", 1.0, 2.0)
# Size controls, in pixels. max_size 0: the preset's own; min_face_size 0: every face.
MAX_SIZE_RANGE = Range("max_size", 0, 16384)
MIN_FACE_SIZE_RANGE = Range("min_face_size", 0, 16384)
MAX_FACES_RANGE = Range("max_faces", 1, 100000)
# Licence plates (plates=true): their own score threshold (default: the face service's FACE_PLATE_THRESHOLD).
PLATE_THRESHOLD_RANGE = Range("plate_threshold", 0.0, 1.0)

# Video. x264's constant rate factor (0 lossless, 51 worst) and speed preset, chosen by measurement
# (bench/video_encoder.py, three real clips and a 720p bench clip): superfast at CRF 22 encodes in 0.48-0.76x the
# time of veryfast at CRF 20 (the 480p clips gain least) with the same luma PSNR on the real clips (+0.0 to +0.4 dB;
# -0.65 dB on the bench's panned still), in files 0.88-1.50x the size. Encoding was a third of a video task's work.
CRF_RANGE = Range("crf", 0, 51)
DEFAULT_CRF = 22
VIDEO_ENCODER_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")
DEFAULT_VIDEO_ENCODER_PRESET = "superfast"
# Videos are detected with the one-pass preset, on every DEFAULT_DETECT_EVERY-th frame, the tracker carrying faces
# between (chosen by bench/video_bench.py: leak rate against speed).
DEFAULT_VIDEO_PRESET = PresetName.FAST.value
DEFAULT_DETECT_EVERY = 4
DETECT_EVERY_RANGE = Range("detect_every", 1, 30)
# Plates in videos: the plate detector (a YOLOv8s: a pass costs about four stacked face passes) runs on every
# DEFAULT_PLATE_DETECT_EVERY-th frame, the tracker carrying plates between, at most half a second at 25 fps
# (bench/plates_e2e.py: 0.61-0.73x the fps of the same 720p video without plates; every 24th frame did no better).
DEFAULT_PLATE_DETECT_EVERY = 12
PLATE_DETECT_EVERY_RANGE = Range("plate_detect_every", 1, 120)


# --- the proto enums, by name ------------------------------------------------------------------------------

_PROTO_ENUMS = {JobKind: "JobKind", Mode: "AnonymizationMode", Mask: "MaskShape"}
_PROTO_PREFIXES = {JobKind: "JOB_KIND_", Mode: "ANONYMIZATION_MODE_", Mask: "MASK_SHAPE_"}
E = TypeVar("E", JobKind, Mode, Mask)


def to_proto(member: JobKind | Mode | Mask) -> int:
    """The proto enum value of the same name (JobKind.BLUR -> JOB_KIND_BLUR)."""
    return _proto_enum(type(member)).Value(_PROTO_PREFIXES[type(member)] + member.name)


def from_proto(enum: type[E], value: int) -> E | None:
    """The member named like the proto value; None for ``*_UNSPECIFIED``; ValueError for an unknown value."""
    try:
        name = _proto_enum(enum).Name(value)
    except ValueError:
        raise ValueError(f"unknown {enum.__name__} value {value}") from None
    member = name.removeprefix(_PROTO_PREFIXES[enum])
    return None if member == "UNSPECIFIED" else enum[member]


def _proto_enum(enum: type) -> Any:
    from faceblur_proto.v1 import face_detection_pb2 as pb

    return getattr(pb, _PROTO_ENUMS[enum])


# --- faces as the API lists them ---------------------------------------------------------------------------


def face_entry(box: Sequence[float], confidence: float, landmarks: Iterable[Sequence[float]] = ()) -> dict[str, Any]:
    """One face as the API shows it: ``facial_area`` [x1, y1, x2, y2] in whole pixels, ``confidence``, and
    ``landmarks`` by name when all five are known (a NaN coordinate marks an unknown point)."""
    entry: dict[str, Any] = {
        "facial_area": [round(float(value)) for value in box],
        "confidence": round(float(confidence), 4),
    }
    known = [(float(x), float(y)) for x, y in landmarks if math.isfinite(x) and math.isfinite(y)]
    if len(known) == len(LANDMARK_NAMES):
        entry["landmarks"] = {
            name: [round(x, 1), round(y, 1)] for name, (x, y) in zip(LANDMARK_NAMES, known, strict=True)
        }
    return entry


def faces_by_number(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The API's face listing: ``face_1``, ``face_2``... in the order given."""
    return {f"face_{number}": entry for number, entry in enumerate(entries, start=1)}


# --- plates as the API lists them --------------------------------------------------------------------------


def plate_entry(box: Sequence[float], confidence: float) -> dict[str, Any]:
    """One licence plate as the API shows it: ``plate_area`` [x1, y1, x2, y2] in whole pixels and ``confidence``."""
    return {"plate_area": [round(float(value)) for value in box], "confidence": round(float(confidence), 4)}


def plates_by_number(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The API's plate listing: ``plate_1``, ``plate_2``... in the order given."""
    return {f"plate_{number}": entry for number, entry in enumerate(entries, start=1)}
