"""One job, start to finish, with no I/O: image bytes -> pixels -> faces -> (anonymized image) -> encoded result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from .anonymize import AnonymizeOptions, anonymize, hide_plates
from .detection.detector import FaceDetector
from .detection.plates import PlateDetector, Plates
from .detection.presets import Preset
from .detection.types import Detections
from .drawing import draw_detections
from .imaging import decode, encode, output_format, read_header, to_rgb8
from .recognition.align import align_face, has_landmarks
from .recognition.embedder import FaceEmbedder
from .recognition.quality import sharpness as face_sharpness

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
    embed: bool = False  # also give each face (with five landmarks) its embedding
    # Blur jobs: anonymize exactly these faces (image pixels as the user sees it) instead of detecting; returned
    # as the result's faces, in this order. None: detect.
    given_faces: Detections | None = None
    # Also find licence plates (blur: and hide them, each by its padded box); plate_threshold None: the detector's.
    plates: bool = False
    plate_threshold: float | None = None

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
    # Embed jobs: float32 [N, D] unit vectors in the order of `faces`, a NaN row for a face without landmarks.
    embeddings: np.ndarray | None = None
    embedding_model: str = ""
    # Embed jobs: float32 [N], each aligned face's sharpness (recognition.quality), NaN for a face without one.
    sharpness: np.ndarray | None = None
    # Jobs with plates: the plates found (best first, in image pixels) and the plate model's name.
    plates: Plates | None = None
    plate_model: str = ""


class EmbedderMissing(RuntimeError):
    """An embed job reached a worker that has no face-recognition model."""


class PlatesUnavailable(RuntimeError):
    """A job with plates reached a worker that has no plate model (the message says why)."""


def reduced_decode_factor(long_side: int, needed_side: int) -> int:
    """The strongest JPEG decoder reduction that still leaves at least `needed_side` pixels on the long side."""
    return next((f for f in REDUCED_DECODE_FACTORS if long_side // f >= needed_side), 1)


def run_job(
    data: bytes,
    spec: JobSpec,
    detector: FaceDetector,
    max_pixels: int,
    embedder: FaceEmbedder | None = None,
    plate_detector: PlateDetector | None = None,
) -> JobResult:
    """Raises imaging.ImageError (the user's fault) with a message naming the problem."""
    if spec.embed and embedder is None:
        raise EmbedderMissing("embed job without a face-recognition model")
    if spec.plates and plate_detector is None:
        raise PlatesUnavailable("job with plates=true on a worker without a plate model")
    clock = _Stopwatch()
    header = read_header(data, max_pixels)
    # Plates need the full image: a plate is small, and its second look crops the image around it.
    needs_full_image = spec.blur or spec.draw or spec.embed or spec.plates
    reduce = 1
    if not needs_full_image and header.format == "jpeg":
        reduce = reduced_decode_factor(max(header.width, header.height), spec.detector_side)
    pixels = decode(data, header, reduce)
    rgb = to_rgb8(pixels)
    clock.lap("decode_ms")

    if spec.given_faces is not None:
        faces, model_name = spec.given_faces, ""
    else:
        faces = detect_faces(rgb, header.width, header.height, spec, detector)
        model_name = detector.model_name(spec.preset)
        clock.lap("inference_ms")

    output = JobResult(faces, header.width, header.height, model_name)
    if spec.plates:
        assert plate_detector is not None
        output.plates = plate_detector.detect(rgb, spec.plate_threshold)
        output.plate_model = plate_detector.name
        clock.lap("plates_ms")
    if spec.embed:
        assert embedder is not None
        output.embeddings, output.sharpness = embed_and_measure(rgb, faces, embedder)
        output.embedding_model = embedder.name
        clock.lap("embed_ms")
    if spec.blur:
        picture = anonymize(pixels, faces.boxes, spec.anonymize)
        if output.plates is not None:
            picture = hide_plates(picture, output.plates.padded(header.width, header.height), spec.anonymize)
        clock.lap("anonymize_ms")
        output.image_format = output_format(header.format)
        output.image = encode(picture, output.image_format, header.icc_profile)
        clock.lap("encode_ms")
    elif spec.draw:
        output.image_format = "jpeg"
        output.image = encode(draw_detections(pixels, faces, output.plates), "jpeg", header.icc_profile)
        clock.lap("encode_ms")
    output.timings_ms = clock.laps
    return output


def detect_faces(rgb: np.ndarray, width: int, height: int, spec: JobSpec, detector: FaceDetector) -> Detections:
    """The faces in ``rgb`` (decoded, perhaps reduced), in pixels of the width x height image, size controls
    applied, left to right."""
    model_view = fit_long_side(rgb, spec.max_size) if spec.max_size else rgb
    faces = detector.detect(model_view, spec.preset, spec.score_threshold)
    view_height, view_width = model_view.shape[:2]
    if (view_width, view_height) != (width, height):
        faces = faces.rescaled(np.array([width / view_width, height / view_height], np.float32), width, height)
    return limit_faces(faces, spec.min_face_size, spec.max_faces).sorted_by_position()


def embed_faces(image_rgb: np.ndarray, faces: Detections, embedder: FaceEmbedder) -> np.ndarray:
    """float32 [N, D]: each face aligned by its five landmarks and embedded; a NaN row for a face without them."""
    return embed_and_measure(image_rgb, faces, embedder)[0]


def embed_and_measure(
    image_rgb: np.ndarray, faces: Detections, embedder: FaceEmbedder
) -> tuple[np.ndarray, np.ndarray]:
    """``embed_faces``' embeddings, and float32 [N]: the sharpness of each aligned face (NaN without one)."""
    known = [i for i in range(len(faces)) if has_landmarks(faces.landmarks[i])]
    crops = [align_face(image_rgb, faces.landmarks[i], embedder.side) for i in known]
    embeddings = np.full((len(faces), embedder.dimensions), np.nan, np.float32)
    sharpness = np.full(len(faces), np.nan, np.float32)
    if crops:
        embeddings[known] = embedder.embed(np.stack(crops))
        sharpness[known] = [face_sharpness(crop) for crop in crops]
    return embeddings, sharpness


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
