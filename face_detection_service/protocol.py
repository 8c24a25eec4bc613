"""Translation between protobuf messages and the service's own types (no I/O, no model)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from faceblur_proto import vocabulary as api
from faceblur_proto.framing import result_responses
from faceblur_proto.media import UnsafeMediaPath
from faceblur_proto.media_store import check_key
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import JobKind, Mask, Mode, Range, from_proto

from .anonymize import AnonymizeOptions
from .detection.plates import Plates
from .detection.presets import Preset, get_preset
from .detection.types import Detections
from .jobs import JobResult, JobSpec
from .video.decoding import Segment
from .video.jobs import BlurVideoSpec, DetectVideoSpec, VideoJobResult, VideoJobSpec

# The largest side video.frame_width / frame_height may name (FACE_MAX_PIXELS bounds their product too); the gateway
# sends the probed first frame, within GATEWAY_VIDEO_MAX_RESOLUTION, the limit users meet.
MAX_FRAME_SIDE = 16384


class InvalidOptions(ValueError):
    pass


def job_kind(options: pb.JobOptions) -> JobKind | None:
    """The job's kind; None when it is unset or a value this service does not know."""
    try:
        return from_proto(JobKind, options.kind)
    except ValueError:
        return None


def job_spec(options: pb.JobOptions, default_preset: str) -> JobSpec:
    """The job the options ask for; InvalidOptions names the option that is out of range or unknown."""
    try:
        kind = from_proto(JobKind, options.kind)
        if kind is None or kind.is_video:
            raise ValueError(f"job kind must be {JobKind.named(video=False)}")
        if (options.faces_given or options.faces) and kind is not JobKind.BLUR:
            raise ValueError("faces / faces_given are for blur jobs only")
        if (options.plates or options.HasField("plate_threshold")) and kind is JobKind.EMBED:
            raise ValueError("plates / plate_threshold are for detect and blur jobs only")
        anonymize = _anonymize_options(options)
        return JobSpec(
            blur=kind is JobKind.BLUR,
            preset=get_preset(options.preset or default_preset),
            anonymize=anonymize,
            draw=options.draw,
            **_detection_options(options),
            embed=kind is JobKind.EMBED,
            given_faces=given_faces(options.faces) if options.faces_given or options.faces else None,
            **_plate_options(options),
        )
    except ValueError as exc:
        raise InvalidOptions(str(exc)) from None


def video_job_spec(options: pb.JobOptions, encoder_preset: str, max_pixels: int) -> VideoJobSpec:
    """The video job the options ask for; InvalidOptions names the option (or path) that is out of range, unknown or
    outside the media store. Its paths are the job's keys in the media store (FACE_MEDIA_URL), relative: the worker
    that runs it makes them a readable input and a writable output (``video.media.run_stored_video_job``)."""
    try:
        kind = from_proto(JobKind, options.kind)
        if kind is None or not kind.is_video:
            raise ValueError(f"job kind must be {JobKind.named(video=True)}")
        if options.faces_given or options.faces:
            raise ValueError("faces / faces_given are for blur jobs only (video jobs list faces in video.frames)")
        segment = _segment(options.video, max_pixels)
        preset = get_preset(options.preset or api.DEFAULT_VIDEO_PRESET)  # checked for both kinds, used by detection
        if kind is JobKind.DETECT_VIDEO:
            return _detect_video_spec(options, segment, preset)
        return _blur_video_spec(options, segment, encoder_preset)
    except ValueError as exc:
        raise InvalidOptions(str(exc)) from None


def _detect_video_spec(options: pb.JobOptions, segment: Segment, preset: Preset) -> DetectVideoSpec:
    video = options.video
    if video.frames or video.output_path:
        raise ValueError("video.frames and video.output_path are for blur-video jobs only")
    detect_every = int(api.DETECT_EVERY_RANGE.check(video.detect_every or api.DEFAULT_DETECT_EVERY))
    plate_every = int(api.PLATE_DETECT_EVERY_RANGE.check(video.plate_detect_every or detect_every))
    if plate_every % detect_every:
        raise ValueError(
            f"video.plate_detect_every ({plate_every}) must be a multiple of detect_every ({detect_every})"
        )
    return DetectVideoSpec(
        segment=segment,
        preset=preset,
        detect_every=detect_every,
        plate_detect_every=plate_every,
        **_detection_options(options),
        **_plate_options(options),
    )


def _blur_video_spec(options: pb.JobOptions, segment: Segment, encoder_preset: str) -> BlurVideoSpec:
    video = options.video
    faces = frame_faces(video.frames)
    if options.plates or options.HasField("plate_threshold"):
        raise ValueError(
            "plates / plate_threshold are for detect-video jobs (blur-video jobs list plates in video.frames)"
        )
    return BlurVideoSpec(
        plates=frame_plates(video.frames),
        segment=segment,
        faces=faces,
        anonymize=_anonymize_options(options),
        output_path=_media_key(video.output_path, "output_path"),
        crf=int(api.CRF_RANGE.check(video.crf)),
        encoder_preset=encoder_preset,
    )


def _media_key(value: str, field: str) -> Path:
    """A job's file, by its key in the media store (as a relative path); ValueError unless it is a normalized
    relative path (no "..", not absolute), the same rule on every store."""
    try:
        return Path(check_key(value))
    except UnsafeMediaPath:
        raise ValueError(
            f"video.{field} {value!r} is not a relative path inside the media directory or bucket (a key such as "
            "tasks/<id>/input.mp4)"
        ) from None


def _segment(video: pb.VideoSegment, max_pixels: int) -> Segment:
    """Which frames of which file a video job works on."""
    if video.first_frame < 0:
        raise ValueError(f"video.first_frame must be 0 or more, got {video.first_frame}")
    if video.frame_count < 1:
        raise ValueError(f"video.frame_count must be 1 or more, got {video.frame_count}")
    return Segment(
        input_path=_media_key(video.input_path, "input_path"),
        first_frame=video.first_frame,
        frame_count=video.frame_count,
        seek_pts=video.seek_pts,
        first_pts=video.first_pts,
        seekable=video.seekable,
        frame_size=_frame_size(video, max_pixels),
        max_pixels=max_pixels,
    )


def _anonymize_options(options: pb.JobOptions) -> AnonymizeOptions:
    """How faces are hidden, for blur and blur-video jobs alike."""
    return AnonymizeOptions(
        from_proto(Mode, options.mode) or api.DEFAULT_MODE,
        from_proto(Mask, options.mask_shape) or api.DEFAULT_MASK,
        _checked(options, "box_scale", api.BOX_SCALE_RANGE, api.DEFAULT_BOX_SCALE),
    )


def _detection_options(options: pb.JobOptions) -> dict[str, Any]:
    """The checked options that tune detection, the same fields of JobSpec and DetectVideoSpec."""
    return {
        "score_threshold": _checked(options, "score_threshold", api.THRESHOLD_RANGE, None),
        "max_size": int(_checked(options, "max_size", api.MAX_SIZE_RANGE, 0)),
        "min_face_size": int(_checked(options, "min_face_size", api.MIN_FACE_SIZE_RANGE, 0)),
        "max_faces": _checked(options, "max_faces", api.MAX_FACES_RANGE, None),
    }


def _plate_options(options: pb.JobOptions) -> dict[str, Any]:
    """Whether to find licence plates, and their threshold: the same fields of JobSpec and DetectVideoSpec."""
    return {
        "plates": options.plates,
        "plate_threshold": _checked(options, "plate_threshold", api.PLATE_THRESHOLD_RANGE, None),
    }


def frame_plates(frames: Sequence[pb.FrameFaces]) -> dict[int, np.ndarray]:
    """A blur-video job's plate boxes (float32 [N, 4], as given: the worker pads them) by frame index."""
    parts: defaultdict[int, list[np.ndarray]] = defaultdict(list)
    for entry in frames:
        if entry.plates:
            boxes = np.array([[p.x1, p.y1, p.x2, p.y2] for p in entry.plates], np.float32)
            if not (np.isfinite(boxes).all() and (boxes[:, :2] <= boxes[:, 2:]).all()):
                raise ValueError(
                    f"video.frames (frame {entry.frame}): plate boxes must be finite with x1 <= x2, y1 <= y2"
                )
            parts[entry.frame].append(boxes)
    return {frame: np.concatenate(boxes) for frame, boxes in parts.items()}


def plate_messages(plates: Plates | None) -> list[pb.Plate]:
    if plates is None:
        return []
    return [
        pb.Plate(x1=float(box[0]), y1=float(box[1]), x2=float(box[2]), y2=float(box[3]), confidence=float(score))
        for box, score in zip(plates.boxes, plates.scores, strict=True)
    ]


def frame_faces(frames: Sequence[pb.FrameFaces]) -> dict[int, Detections]:
    """A blur-video job's faces by frame index (a frame listed twice gets the faces of both entries)."""
    parts: defaultdict[int, list[Detections]] = defaultdict(list)
    for entry in frames:
        if entry.frame < 0:
            raise ValueError(f"video.frames: frame indexes are 0 or more, got {entry.frame}")
        try:
            parts[entry.frame].append(given_faces(entry.faces))
        except ValueError as exc:
            raise ValueError(f"video.frames (frame {entry.frame}): {exc}") from None
    return {frame: Detections.concat(faces) for frame, faces in parts.items()}


def given_faces(faces: Sequence[pb.Face]) -> Detections:
    """The faces a blur job names, as Detections (landmarks kept only when all five are there)."""
    boxes = np.array([[f.x1, f.y1, f.x2, f.y2] for f in faces], np.float32).reshape(-1, 4)
    for number, (x1, y1, x2, y2) in enumerate(boxes, start=1):
        if not (np.isfinite([x1, y1, x2, y2]).all() and x1 <= x2 and y1 <= y2):
            raise ValueError(f"faces[{number - 1}]: the box must be finite with x1 <= x2 and y1 <= y2")
    landmarks = np.full((len(faces), 5, 2), np.nan, np.float32)
    for index, face in enumerate(faces):
        if len(face.landmarks) == 5:
            landmarks[index] = [(point.x, point.y) for point in face.landmarks]
    return Detections(boxes, np.array([f.confidence for f in faces], np.float32), landmarks)


def _frame_size(video: pb.VideoSegment, max_pixels: int) -> tuple[int, int] | None:
    size = (video.frame_width, video.frame_height)
    if size == (0, 0):
        return None
    if not all(1 <= side <= MAX_FRAME_SIDE for side in size):
        raise ValueError(f"video.frame_width and frame_height must both be 0 or both 1..{MAX_FRAME_SIDE}, got {size}")
    if size[0] * size[1] > max_pixels:
        raise ValueError(f"video.frame_width x frame_height is over FACE_MAX_PIXELS ({max_pixels}), got {size}")
    return size


def _checked(options: pb.JobOptions, field: str, valid: Range, default: float | None) -> Any:
    """An optional field's value, checked against its range; ``default`` when it is unset."""
    return valid.check(getattr(options, field)) if options.HasField(field) else default


def result_messages(job_id: str, preset_name: str, output: JobResult, queue_ms: float) -> list[pb.JobResponse]:
    """The image in chunks (if any), then the final message with the faces (and their embeddings)."""
    embeddings = output.embeddings if output.embeddings is not None else [None] * len(output.faces)
    faces = face_messages(output.faces, embeddings, output.sharpness)
    result = pb.JobResult(
        **_result_fields(output, preset_name, queue_ms),
        faces=faces,
        image_format=output.image_format,
        embedding_model=output.embedding_model,
        plates=plate_messages(output.plates),
    )
    return result_responses(job_id, result, output.image)


def _result_fields(output: JobResult | VideoJobResult, preset_name: str, queue_ms: float) -> dict[str, Any]:
    """What image and video results report alike: the picture's size, the models and preset used, the timings."""
    return {
        "image_width": output.width,
        "image_height": output.height,
        "model": output.model,
        "preset": preset_name,
        "timings": pb.StageTimings(queue_ms=queue_ms, **output.timings_ms),
        "plate_model": output.plate_model,
    }


def face_messages(
    faces: Detections,
    embeddings: Sequence[np.ndarray | None] | None = None,
    sharpness: Sequence[float] | None = None,
) -> list[pb.Face]:
    """Faces as the proto lists them: box, confidence, the landmarks that are known, the embedding and the aligned
    face's sharpness (if any)."""
    if embeddings is None:
        embeddings = [None] * len(faces)
    if sharpness is None:
        sharpness = [math.nan] * len(faces)
    return [
        pb.Face(
            x1=float(box[0]),
            y1=float(box[1]),
            x2=float(box[2]),
            y2=float(box[3]),
            confidence=float(score),
            landmarks=[pb.Point(x=float(x), y=float(y)) for x, y in landmarks if math.isfinite(x)],
            embedding=embedding.tolist() if embedding is not None and np.isfinite(embedding).all() else [],
            sharpness=float(sharp) if math.isfinite(sharp) else 0.0,
        )
        for box, score, landmarks, embedding, sharp in zip(
            faces.boxes, faces.scores, faces.landmarks, embeddings, sharpness, strict=True
        )
    ]


def video_result_messages(
    job_id: str, preset_name: str, output: VideoJobResult, queue_ms: float
) -> list[pb.JobResponse]:
    """The one message that answers a video job: the faces of each detected frame and the frames done."""
    result = pb.JobResult(
        **_result_fields(output, preset_name, queue_ms),
        frames=[
            pb.FrameFaces(frame=index, faces=face_messages(faces), plates=plate_messages(output.plates.get(index)))
            for index, faces in output.frames
        ],
        frames_done=output.frames_done,
    )
    return result_responses(job_id, result, None)
