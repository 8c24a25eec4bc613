"""One job, start to finish, with no I/O: image bytes -> pixels -> faces -> (anonymized image) -> encoded result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .anonymize import AnonymizeOptions, anonymize
from .detection.detector import FaceDetector
from .detection.presets import Preset
from .detection.types import Detections
from .drawing import draw_detections
from .imaging import decode, encode, output_format, read_header, to_rgb8

REDUCED_DECODE_FACTORS = (8, 4, 2)


@dataclass(frozen=True)
class JobSpec:
    blur: bool
    preset: Preset
    score_threshold: float | None = None
    anonymize: AnonymizeOptions = field(default_factory=AnonymizeOptions)
    draw: bool = False
    max_size: int = 0  # the long side the detector may see; 0: the preset's
    min_face_size: int = 0  # px on the box's long side; smaller faces are dropped (and left as they are)
    max_faces: int | None = None  # keep the largest N

    @property
    def detector_side(self) -> int:
        """The most pixels, on the long side, the detector gets to see."""
        return min(self.preset.max_side, self.max_size) if self.max_size else self.preset.max_side


@dataclass
class JobResult:
    """What ``run_job`` returns: the in-process form of the proto's ``JobResult``, plus the returned image."""

    faces: Detections
    width: int
    height: int
    model: str
    image: bytes | None = None
    image_format: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


def reduced_decode_factor(long_side: int, needed_side: int) -> int:
    """The strongest JPEG decoder reduction that still leaves at least `needed_side` pixels on the long side."""
    return next((f for f in REDUCED_DECODE_FACTORS if long_side // f >= needed_side), 1)


def run_job(data: bytes, spec: JobSpec, detector: FaceDetector, max_pixels: int) -> JobResult:
    """Raises imaging.ImageError (the user's fault) with a message naming the problem."""
    clock = _Stopwatch()
    header = read_header(data, max_pixels)
    needs_full_image = spec.blur or spec.draw
    reduce = 1
    if not needs_full_image and header.format == "jpeg":
        reduce = reduced_decode_factor(max(header.width, header.height), spec.detector_side)
    pixels = decode(data, header, reduce)
    model_view = to_rgb8(pixels)
    if spec.max_size and max(model_view.shape[:2]) > spec.max_size:
        model_view = fit_long_side(model_view, spec.max_size)
    clock.lap("decode_ms")

    faces = detector.detect(model_view, spec.preset, spec.score_threshold)
    height, width = model_view.shape[:2]
    if (width, height) != (header.width, header.height):
        faces = faces.rescaled(
            np.array([header.width / width, header.height / height], np.float32), header.width, header.height
        )
    faces = limit_faces(faces, spec.min_face_size, spec.max_faces).sorted_by_position()
    clock.lap("inference_ms")

    output = JobResult(faces, header.width, header.height, detector.model_name(spec.preset))
    if spec.blur:
        picture = anonymize(pixels, faces.boxes, spec.anonymize)
        clock.lap("anonymize_ms")
        output.image_format = output_format(header.format)
        output.image = encode(picture, output.image_format, header.icc_profile)
        clock.lap("encode_ms")
    elif spec.draw:
        output.image_format = "jpeg"
        output.image = encode(draw_detections(pixels, faces), "jpeg", header.icc_profile)
        clock.lap("encode_ms")
    output.timings_ms = clock.laps
    return output


def limit_faces(faces: Detections, min_face_size: int, max_faces: int | None) -> Detections:
    """Drop faces smaller than ``min_face_size`` px (box's long side), then keep the ``max_faces`` largest by box
    area, the more confident first among equals."""
    sides = np.maximum(faces.boxes[:, 2] - faces.boxes[:, 0], faces.boxes[:, 3] - faces.boxes[:, 1])
    faces = faces.select(sides >= min_face_size)
    if max_faces is None or len(faces) <= max_faces:
        return faces
    areas = (faces.boxes[:, 2] - faces.boxes[:, 0]) * (faces.boxes[:, 3] - faces.boxes[:, 1])
    largest_first = np.lexsort((-faces.scores, -areas))
    return faces.select(np.sort(largest_first[:max_faces]))


def fit_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """``image`` shrunk (never enlarged) so its long side is ``long_side`` pixels."""
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


class _Stopwatch:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = (now - self._last) * 1000
        self._last = now
