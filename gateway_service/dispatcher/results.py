"""Pure translations between the gateway's task options/results and the face service's protocol messages."""

from __future__ import annotations

from faceblur_proto.v1 import face_detection_pb2 as pb
from gateway_service.tasks.models import JobOptions, TaskKind

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

_KINDS = {TaskKind.DETECT: pb.JOB_KIND_DETECT, TaskKind.BLUR: pb.JOB_KIND_BLUR}
_MODES = {
    "blur": pb.ANONYMIZATION_MODE_BLUR,
    "pixelate": pb.ANONYMIZATION_MODE_PIXELATE,
    "solid": pb.ANONYMIZATION_MODE_SOLID,
}
_MASKS = {"ellipse": pb.MASK_SHAPE_ELLIPSE, "box": pb.MASK_SHAPE_BOX}


def job_options_message(kind: TaskKind, options: JobOptions) -> pb.JobOptions:
    message = pb.JobOptions(
        kind=_KINDS[kind],
        mode=_MODES.get(options.mode or "", pb.ANONYMIZATION_MODE_UNSPECIFIED),
        mask_shape=_MASKS.get(options.mask or "", pb.MASK_SHAPE_UNSPECIFIED),
        preset=options.preset or "",
        draw=options.draw and kind is TaskKind.DETECT,
    )
    if options.threshold is not None:
        message.score_threshold = options.threshold
    if options.box_scale is not None:
        message.box_scale = options.box_scale
    return message


def faces_by_number(faces: list[pb.Face] | tuple[pb.Face, ...]) -> dict[str, dict]:
    """The FaceBlur API's face listing: face_1, face_2, ... in the service's order."""
    return {f"face_{number}": face_entry(face) for number, face in enumerate(faces, start=1)}


def face_entry(face: pb.Face) -> dict:
    entry: dict = {
        "facial_area": [round(face.x1), round(face.y1), round(face.x2), round(face.y2)],
        "confidence": round(face.confidence, 4),
    }
    if len(face.landmarks) == len(LANDMARK_NAMES):
        entry["landmarks"] = {
            name: [round(point.x, 1), round(point.y, 1)]
            for name, point in zip(LANDMARK_NAMES, face.landmarks, strict=True)
        }
    return entry


def stored_result(result: pb.JobResult) -> dict:
    """What the task record keeps of a JobResult (the returned image is stored beside it, as raw bytes)."""
    timings = result.timings
    return {
        "faces": faces_by_number(list(result.faces)),
        "face_count": len(result.faces),
        "model": result.model,
        "preset": result.preset,
        "image_width": result.image_width,
        "image_height": result.image_height,
        "image_format": result.image_format,
        "timings_ms": {
            "queue": round(timings.queue_ms, 2),
            "decode": round(timings.decode_ms, 2),
            "inference": round(timings.inference_ms, 2),
            "anonymize": round(timings.anonymize_ms, 2),
            "encode": round(timings.encode_ms, 2),
        },
    }
