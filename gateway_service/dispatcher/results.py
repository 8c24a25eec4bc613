"""Pure translations between the gateway's task options/results and the face service's protocol messages."""

from __future__ import annotations

from collections.abc import Iterable

from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.vocabulary import TaskKind, face_entry, faces_by_number, plate_entry, plates_by_number, to_proto
from gateway_service.tasks.models import JobOptions

# The tasks whose jobs find licence plates when asked (plates=true).
PLATE_TASKS = (TaskKind.DETECT, TaskKind.BLUR, TaskKind.BLUR_VIDEO)


def job_options_message(kind: TaskKind, options: JobOptions) -> pb.JobOptions:
    message = pb.JobOptions(
        kind=to_proto(kind.job_kind),
        mode=to_proto(options.mode) if options.mode else pb.ANONYMIZATION_MODE_UNSPECIFIED,
        mask_shape=to_proto(options.mask) if options.mask else pb.MASK_SHAPE_UNSPECIFIED,
        preset=options.preset.value if options.preset else "",
        draw=options.draw and kind is TaskKind.DETECT,
        plates=options.plates and kind in PLATE_TASKS,
    )
    optional_fields = {
        "score_threshold": options.threshold,
        "box_scale": options.box_scale,
        "max_size": options.max_size,
        "min_face_size": options.min_face_size,
        "max_faces": options.max_faces,
        "plate_threshold": options.plate_threshold if kind in PLATE_TASKS else None,
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


def plate_listing(plates: Iterable[pb.Plate]) -> dict[str, dict]:
    """The API's plate listing (plate_1, plate_2, ... in the service's order, best first) of the proto's plates."""
    return plates_by_number(plate_entry((p.x1, p.y1, p.x2, p.y2), p.confidence) for p in plates)


def stored_result(result: pb.JobResult) -> dict:
    """What the task record keeps of a JobResult (the returned image is stored beside it, as raw bytes); a job
    with plates (its plate_model set) adds plates, plate_count and plate_model."""
    timings = result.timings
    plates = (
        {"plates": plate_listing(result.plates), "plate_count": len(result.plates), "plate_model": result.plate_model}
        if result.plate_model
        else {}
    )
    return plates | {
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
        | ({"embed": round(timings.embed_ms, 2)} if timings.embed_ms else {})
        | ({"plates": round(timings.plates_ms, 2)} if result.plate_model else {}),
    }
