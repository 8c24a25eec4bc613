"""The two video job kinds, start to finish: a segment's frames -> faces (detect) or -> an MP4 segment (blur).

Both read the input from, and write the output to, local paths (or a reader of the stored input): ``media.py``
makes them from the job's keys in the media store. Detect jobs run the image pipeline's detector on every
``detect_every``-th frame (by its index in the whole video, so segments agree on which frames are detected); blur
jobs hide exactly the faces the caller lists per frame, which lets the gateway track faces across frames and spare
whom it likes.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from faceblur_proto.vocabulary import DEFAULT_CRF, DEFAULT_VIDEO_ENCODER_PRESET

from ..anonymize import AnonymizeOptions, plate_options
from ..detection.detector import FaceDetector
from ..detection.plates import PLATE_PADDING, PlateDetector, Plates, pad_plate_boxes
from ..detection.presets import Preset
from ..detection.types import Detections
from ..jobs import JobSpec, PlatesUnavailable, detect_faces, limit_faces
from .decoding import Segment, VideoInputError, decode_segment, open_video, stream_info
from .encoding import SegmentWriter
from .planes import even_size, hide_faces, upright_rgb, upright_size, yuv420_planes
from .stacking import split, stack


@dataclass(frozen=True)
class DetectVideoSpec:
    """A detect-video job: the faces of every ``detect_every``-th frame of ``segment``, found as an image job with
    these detection settings would find them."""

    segment: Segment
    preset: Preset
    detect_every: int = 1
    score_threshold: float | None = None
    max_size: int = 0
    min_face_size: int = 0
    max_faces: int | None = None
    plates: bool = False  # also the licence plates of every plate_detect_every-th frame (0: detect_every)
    plate_detect_every: int = 0
    plate_threshold: float | None = None

    def detection_spec(self) -> JobSpec:
        """The image job whose detection settings each detected frame gets."""
        return JobSpec(
            blur=False,
            preset=self.preset,
            score_threshold=self.score_threshold,
            max_size=self.max_size,
            min_face_size=self.min_face_size,
            max_faces=self.max_faces,
        )


@dataclass(frozen=True)
class BlurVideoSpec:
    """A blur-video job: ``segment`` written to ``output_path`` as an MP4 (x264 ``crf`` and ``encoder_preset``),
    with ``faces`` (by frame index, upright pixels) hidden as ``anonymize`` says."""

    segment: Segment
    output_path: Path
    faces: dict[int, Detections] = field(default_factory=dict)
    anonymize: AnonymizeOptions = field(default_factory=AnonymizeOptions)
    crf: int = DEFAULT_CRF
    encoder_preset: str = DEFAULT_VIDEO_ENCODER_PRESET
    threads: int = 1  # the encoder's (FACE_THREADS_PER_WORKER)
    # Licence plates to hide, by frame index: float32 [N, 4] boxes as found (padded here), hidden by box.
    plates: dict[int, np.ndarray] = field(default_factory=dict)


VideoJobSpec = DetectVideoSpec | BlurVideoSpec


@dataclass
class VideoJobResult:
    """What a video job returns: the in-process form of the proto's JobResult for video jobs."""

    frames: list[tuple[int, Detections]]  # detect jobs: (frame index, faces) of each detected frame, in order
    frames_done: int
    width: int  # of the upright frames (blur jobs: as written, sides made even)
    height: int
    model: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    # Detect jobs with plates: the plates of each detected frame, by frame index, and the plate model.
    plates: dict[int, Plates] = field(default_factory=dict)
    plate_model: str = ""


def run_video_job(
    spec: VideoJobSpec, detector: FaceDetector, threads: int = 1, plate_detector: PlateDetector | None = None
) -> VideoJobResult:
    """The job ``spec`` asks for (a blur-video job's encoder gets ``threads``). Raises VideoInputError (the caller's
    fault) or VideoOutputError (the server's), each naming the problem."""
    if isinstance(spec, BlurVideoSpec):
        return run_blur_video(replace(spec, threads=threads))
    return run_detect_video(spec, detector, plate_detector)


def run_detect_video(
    spec: DetectVideoSpec, detector: FaceDetector, plate_detector: PlateDetector | None = None
) -> VideoJobResult:
    """The faces of every ``detect_every``-th frame; two such frames share one detector pass (``stacking``). With
    plates, each of those frames also goes through the plate detector."""
    if spec.plates and plate_detector is None:
        raise PlatesUnavailable("detect-video job with plates=true on a worker without a plate model")
    plates: dict[int, Plates] = {}
    plate_every = spec.plate_detect_every or spec.detect_every
    detection = spec.detection_spec()
    timings = {"decode_ms": 0.0, "inference_ms": 0.0} | ({"plates_ms": 0.0} if spec.plates else {})
    found: list[tuple[int, Detections]] = []
    waiting: list[tuple[int, np.ndarray]] = []  # a frame to detect, until its pair comes
    frames_done, width, height = 0, 0, 0
    container, stream = open_video(spec.segment.input_path)
    with container:
        clock = time.perf_counter()
        for decoded in decode_segment(container, stream, spec.segment):
            frames_done += 1
            width, height = upright_size(decoded.frame.width, decoded.frame.height, decoded.rotation)
            if decoded.index % spec.detect_every:
                continue
            waiting.append((decoded.index, upright_rgb(decoded.frame, decoded.rotation)))
            clock = _lap(timings, "decode_ms", clock)
            if plate_detector is not None and spec.plates and not decoded.index % plate_every:
                plates[decoded.index] = plate_detector.detect(waiting[-1][1], spec.plate_threshold)
                clock = _lap(timings, "plates_ms", clock)
            if len(waiting) == 2:
                found += _detect_frames(waiting, detection, detector)
                waiting.clear()
                clock = _lap(timings, "inference_ms", clock)
        clock = _lap(timings, "decode_ms", clock)
        found += _detect_frames(waiting, detection, detector)
        _lap(timings, "inference_ms", clock)
    output = VideoJobResult(found, frames_done, width, height, detector.model_name(spec.preset), timings)
    if spec.plates and plate_detector is not None:
        output.plates, output.plate_model = plates, plate_detector.name
    return output


def _detect_frames(
    frames: list[tuple[int, np.ndarray]], detection: JobSpec, detector: FaceDetector
) -> list[tuple[int, Detections]]:
    """The faces of one frame, or of two frames of the same size in one stacked pass; size controls per frame."""
    if len(frames) == 2 and frames[0][1].shape == frames[1][1].shape:
        (first_index, first), (second_index, second) = frames
        height, width = first.shape[:2]
        image, vertical = stack(first, second)
        stacked = detect_faces(image, image.shape[1], image.shape[0], replace(detection, max_faces=None), detector)
        faces = split(stacked, vertical, width, height)
        return [
            (index, limit_faces(each, detection.min_face_size, detection.max_faces).sorted_by_position())
            for index, each in zip((first_index, second_index), faces, strict=True)
        ]
    return [(index, detect_faces(rgb, rgb.shape[1], rgb.shape[0], detection, detector)) for index, rgb in frames]


def run_blur_video(spec: BlurVideoSpec) -> VideoJobResult:
    """Every frame of the segment, re-encoded, with the listed faces hidden; the MP4 is at ``output_path`` when
    this returns. Frames are written upright (rotation applied), their sides cropped to even numbers."""
    timings = {"decode_ms": 0.0, "anonymize_ms": 0.0, "encode_ms": 0.0}
    plate_anonymize = plate_options(spec.anonymize)
    container, stream = open_video(spec.segment.input_path)
    info = stream_info(stream)
    with container:
        clock = time.perf_counter()
        frames = decode_segment(container, stream, spec.segment)
        first = next(frames, None)
        if first is None:
            raise VideoInputError(f"the video has no frames from frame {spec.segment.first_frame} on")
        width, height = upright_size(*even_size(first.frame.width, first.frame.height), first.rotation)
        with SegmentWriter(
            spec.output_path,
            width,
            height,
            info.time_base,
            info.average_rate,
            spec.crf,
            spec.encoder_preset,
            spec.threads,
        ) as writer:
            for decoded in itertools.chain([first], frames):
                planes = yuv420_planes(decoded.frame, decoded.rotation)
                clock = _lap(timings, "decode_ms", clock)
                faces = spec.faces.get(decoded.index)
                if faces is not None and len(faces):
                    planes = hide_faces(planes, faces.boxes, spec.anonymize)
                    clock = _lap(timings, "anonymize_ms", clock)
                plates = spec.plates.get(decoded.index)
                if plates is not None and len(plates):
                    planes = hide_faces(planes, pad_plate_boxes(plates, PLATE_PADDING), plate_anonymize)
                    clock = _lap(timings, "anonymize_ms", clock)
                writer.write(planes, decoded.pts)
                clock = _lap(timings, "encode_ms", clock)
        _lap(timings, "encode_ms", clock)
    return VideoJobResult([], writer.frames, width, height, "", timings)


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    timings[stage] += (now - since) * 1000
    return now
