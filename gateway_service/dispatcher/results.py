"""Pure translations between the gateway's task options/results and the face service's protocol messages."""

from __future__ import annotations

from collections.abc import Iterable

from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import TaskKind, face_entry, faces_by_number, to_proto
from gateway_service.tasks.models import JobOptions


def job_options_message(kind: TaskKind, options: JobOptions) -> pb.JobOptions:
    message = pb.JobOptions(
        kind=to_proto(kind.job_kind),
        mode=to_proto(options.mode) if options.mode else pb.ANONYMIZATION_MODE_UNSPECIFIED,
        mask_shape=to_proto(options.mask) if options.mask else pb.MASK_SHAPE_UNSPECIFIED,
        preset=options.preset.value if options.preset else "",
        draw=options.draw and kind is TaskKind.DETECT,
    )
    optional_fields = {
        "score_threshold": options.threshold,
        "box_scale": options.box_scale,
        "max_size": options.max_size,
        "min_face_size": options.min_face_size,
        "max_faces": options.max_faces,
    }
    for name, value in optional_fields.items():
        if value is not None:
            setattr(message, name, value)
    return message


def face_listing(faces: Iterable[pb.Face]) -> dict[str, dict]:
    """The FaceBlur API's face listing (face_1, face_2, ... in the service's order) of the proto's faces."""
    return faces_by_number(
        face_entry((f.x1, f.y1, f.x2, f.y2), f.confidence, [(p.x, p.y) for p in f.landmarks]) for f in faces
    )


def stored_result(result: pb.JobResult) -> dict:
    """What the task record keeps of a JobResult (the returned image is stored beside it, as raw bytes)."""
    timings = result.timings
    return {
        "faces": face_listing(result.faces),
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
        }
        | ({"embed": round(timings.embed_ms, 2)} if timings.embed_ms else {}),
    }
