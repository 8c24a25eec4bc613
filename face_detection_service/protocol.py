"""Translation between protobuf messages and the service's own types (no I/O, no model)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from faceblur_proto import vocabulary as api
from faceblur_proto.framing import result_responses
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import JobKind, Mask, Mode, Range, from_proto

from .anonymize import AnonymizeOptions
from .detection.presets import get_preset
from .detection.types import Detections
from .jobs import JobResult, JobSpec


class InvalidOptions(ValueError):
    pass


def job_spec(options: pb.JobOptions, default_preset: str) -> JobSpec:
    """The job the options ask for; InvalidOptions names the option that is out of range or unknown."""
    try:
        kind = from_proto(JobKind, options.kind)
        if kind is None:
            raise ValueError("job kind must be DETECT, BLUR or EMBED")
        if (options.faces_given or options.faces) and kind is not JobKind.BLUR:
            raise ValueError("faces / faces_given are for blur jobs only")
        anonymize = AnonymizeOptions(
            from_proto(Mode, options.mode) or api.DEFAULT_MODE,
            from_proto(Mask, options.mask_shape) or api.DEFAULT_MASK,
            _checked(options, "box_scale", api.BOX_SCALE_RANGE, api.DEFAULT_BOX_SCALE),
        )
        return JobSpec(
            blur=kind is JobKind.BLUR,
            preset=get_preset(options.preset or default_preset),
            score_threshold=_checked(options, "score_threshold", api.THRESHOLD_RANGE, None),
            anonymize=anonymize,
            draw=options.draw,
            max_size=int(_checked(options, "max_size", api.MAX_SIZE_RANGE, 0)),
            min_face_size=int(_checked(options, "min_face_size", api.MIN_FACE_SIZE_RANGE, 0)),
            max_faces=_checked(options, "max_faces", api.MAX_FACES_RANGE, None),
            embed=kind is JobKind.EMBED,
            given_faces=given_faces(options.faces) if options.faces_given or options.faces else None,
        )
    except ValueError as exc:
        raise InvalidOptions(str(exc)) from None


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


def _checked(options: pb.JobOptions, field: str, valid: Range, default: float | None) -> Any:
    """An optional field's value, checked against its range; ``default`` when it is unset."""
    return valid.check(getattr(options, field)) if options.HasField(field) else default


def result_messages(job_id: str, preset_name: str, output: JobResult, queue_ms: float) -> list[pb.JobResponse]:
    """The image in chunks (if any), then the final message with the faces (and their embeddings)."""
    embeddings = output.embeddings if output.embeddings is not None else [None] * len(output.faces)
    faces = [
        pb.Face(
            x1=float(box[0]),
            y1=float(box[1]),
            x2=float(box[2]),
            y2=float(box[3]),
            confidence=float(score),
            landmarks=[pb.Point(x=float(x), y=float(y)) for x, y in landmarks if math.isfinite(x)],
            embedding=embedding.tolist() if embedding is not None and np.isfinite(embedding).all() else [],
        )
        for box, score, landmarks, embedding in zip(
            output.faces.boxes, output.faces.scores, output.faces.landmarks, embeddings, strict=True
        )
    ]
    result = pb.JobResult(
        faces=faces,
        image_width=output.width,
        image_height=output.height,
        model=output.model,
        preset=preset_name,
        image_format=output.image_format,
        timings=pb.StageTimings(queue_ms=queue_ms, **output.timings_ms),
        embedding_model=output.embedding_model,
    )
    return result_responses(job_id, result, output.image)
