"""Translation between protobuf messages and the service's own types (no I/O, no model)."""

from __future__ import annotations

import math

import grpc

from faceblur_proto.v1 import face_detection_pb2 as pb

from .anonymize import AnonymizeOptions, Mask, Mode
from .detection.presets import get_preset
from .jobs import JobOutput, JobSpec

RESPONSE_CHUNK_BYTES = 1024 * 1024
MODES = {
    pb.ANONYMIZATION_MODE_UNSPECIFIED: Mode.BLUR,
    pb.ANONYMIZATION_MODE_BLUR: Mode.BLUR,
    pb.ANONYMIZATION_MODE_PIXELATE: Mode.PIXELATE,
    pb.ANONYMIZATION_MODE_SOLID: Mode.SOLID,
}
MASKS = {
    pb.MASK_SHAPE_UNSPECIFIED: Mask.ELLIPSE,
    pb.MASK_SHAPE_ELLIPSE: Mask.ELLIPSE,
    pb.MASK_SHAPE_BOX: Mask.BOX,
}
MIN_BOX_SCALE, MAX_BOX_SCALE = 0.5, 3.0


class InvalidOptions(ValueError):
    pass


def job_spec(options: pb.JobOptions, default_preset: str, default_box_scale: float) -> JobSpec:
    if options.kind not in (pb.JOB_KIND_DETECT, pb.JOB_KIND_BLUR):
        raise InvalidOptions("job kind must be DETECT or BLUR")
    try:
        preset = get_preset(options.preset or default_preset)
    except ValueError as exc:
        raise InvalidOptions(str(exc)) from None
    threshold = options.score_threshold if options.HasField("score_threshold") else None
    if threshold is not None and not (0.0 <= threshold <= 1.0 and math.isfinite(threshold)):
        raise InvalidOptions(f"score_threshold must be between 0 and 1, got {threshold}")
    box_scale = options.box_scale if options.HasField("box_scale") else default_box_scale
    if not (MIN_BOX_SCALE <= box_scale <= MAX_BOX_SCALE):
        raise InvalidOptions(f"box_scale must be between {MIN_BOX_SCALE} and {MAX_BOX_SCALE}, got {box_scale}")
    if options.mode not in MODES or options.mask_shape not in MASKS:
        raise InvalidOptions("unknown anonymization mode or mask shape")
    return JobSpec(
        blur=options.kind == pb.JOB_KIND_BLUR,
        preset=preset,
        score_threshold=threshold,
        anonymize=AnonymizeOptions(MODES[options.mode], MASKS[options.mask_shape], box_scale),
        draw=options.draw,
    )


def result_messages(job_id: str, preset_name: str, output: JobOutput, queue_ms: float) -> list[pb.JobResponse]:
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
    image = output.image or b""
    chunks = [image[i : i + RESPONSE_CHUNK_BYTES] for i in range(0, len(image), RESPONSE_CHUNK_BYTES)]
    messages = [pb.JobResponse(job_id=job_id, image_chunk=chunk) for chunk in chunks]
    messages.append(pb.JobResponse(job_id=job_id, last=True, result=result))
    return messages


def error_message(job_id: str, code: grpc.StatusCode, message: str) -> pb.JobResponse:
    return pb.JobResponse(job_id=job_id, last=True, error=pb.JobError(code=code.value[0], message=message))
