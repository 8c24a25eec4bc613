"""Translation between protobuf messages and the service's own types (no I/O, no model)."""

from __future__ import annotations

import math

from faceblur_proto.framing import result_responses
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import (
    BOX_SCALE_RANGE,
    DEFAULT_BOX_SCALE,
    DEFAULT_MASK,
    DEFAULT_MODE,
    MAX_FACES_RANGE,
    MAX_SIZE_RANGE,
    MIN_FACE_SIZE_RANGE,
    THRESHOLD_RANGE,
    JobKind,
    Mask,
    Mode,
    from_proto,
)

from .anonymize import AnonymizeOptions
from .detection.presets import get_preset
from .jobs import JobResult, JobSpec


class InvalidOptions(ValueError):
    pass


def job_spec(options: pb.JobOptions, default_preset: str) -> JobSpec:
    """The job the options ask for; InvalidOptions names the option that is out of range or unknown."""
    try:
        kind = from_proto(JobKind, options.kind)
        if kind is None:
            raise ValueError("job kind must be DETECT or BLUR")
        preset = get_preset(options.preset or default_preset)
        threshold = THRESHOLD_RANGE.check(options.score_threshold) if options.HasField("score_threshold") else None
        box_scale = BOX_SCALE_RANGE.check(options.box_scale) if options.HasField("box_scale") else DEFAULT_BOX_SCALE
        mode = from_proto(Mode, options.mode) or DEFAULT_MODE
        mask = from_proto(Mask, options.mask_shape) or DEFAULT_MASK
        max_size = int(MAX_SIZE_RANGE.check(options.max_size)) if options.HasField("max_size") else 0
        min_face = int(MIN_FACE_SIZE_RANGE.check(options.min_face_size)) if options.HasField("min_face_size") else 0
        max_faces = int(MAX_FACES_RANGE.check(options.max_faces)) if options.HasField("max_faces") else None
    except ValueError as exc:
        raise InvalidOptions(str(exc)) from None
    return JobSpec(
        blur=kind is JobKind.BLUR,
        preset=preset,
        score_threshold=threshold,
        anonymize=AnonymizeOptions(mode, mask, box_scale),
        draw=options.draw,
        max_size=max_size,
        min_face_size=min_face,
        max_faces=max_faces,
    )


def result_messages(job_id: str, preset_name: str, output: JobResult, queue_ms: float) -> list[pb.JobResponse]:
    """The image in chunks (if any), then the final message with the faces."""
    faces = [
        pb.Face(
            x1=float(box[0]),
            y1=float(box[1]),
            x2=float(box[2]),
            y2=float(box[3]),
            confidence=float(score),
            landmarks=[pb.Point(x=float(x), y=float(y)) for x, y in landmarks if math.isfinite(x)],
        )
        for box, score, landmarks in zip(output.faces.boxes, output.faces.scores, output.faces.landmarks, strict=True)
    ]
    result = pb.JobResult(
        faces=faces,
        image_width=output.width,
        image_height=output.height,
        model=output.model,
        preset=preset_name,
        image_format=output.image_format,
        timings=pb.StageTimings(queue_ms=queue_ms, **output.timings_ms),
    )
    return result_responses(job_id, result, output.image)
