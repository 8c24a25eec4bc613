"""One job on a ``ProcessJobs`` stream, both ways: the chunking rules of ``protos/`` in code, used by every client
and the face service.

A job goes up as ``JobRequest`` messages sharing its ``job_id``: options on the first, the image in chunks of
``CHUNK_BYTES``, ``last`` on the final one. It comes back as ``JobResponse`` messages: the returned image (if
any) in chunks, then ``last`` with the ``JobResult`` or the ``JobError``; ``AnswerAssembler`` turns those back
into one ``JobAnswer`` per job.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from faceblur_proto.v1 import face_detection_pb2 as pb

# Keeps every message well below gRPC's 4 MiB default, whatever the image size.
CHUNK_BYTES = 1024 * 1024


def chunks(data: bytes) -> list[bytes]:
    """``data`` in CHUNK_BYTES pieces; empty data is no piece."""
    return [data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)]


def job_requests(job_id: str, options: pb.JobOptions, image: bytes) -> list[pb.JobRequest]:
    """The messages that upload one job (an empty image is still one message, so the job starts and is refused)."""
    pieces = chunks(image) or [b""]
    return [
        pb.JobRequest(
            job_id=job_id,
            options=options if index == 0 else None,
            image_chunk=piece,
            last=index == len(pieces) - 1,
        )
        for index, piece in enumerate(pieces)
    ]


def result_responses(job_id: str, result: pb.JobResult, image: bytes | None) -> list[pb.JobResponse]:
    """The messages that answer one job: the returned image in chunks (if any), then the result."""
    messages = [pb.JobResponse(job_id=job_id, image_chunk=piece) for piece in chunks(image or b"")]
    messages.append(pb.JobResponse(job_id=job_id, last=True, result=result))
    return messages


def error_response(job_id: str, code: grpc.StatusCode, message: str) -> pb.JobResponse:
    """The one message that refuses a job."""
    return pb.JobResponse(job_id=job_id, last=True, error=pb.JobError(code=code.value[0], message=message))


def status_code(value: int) -> grpc.StatusCode:
    """The grpc.StatusCode a JobError's integer ``code`` stands for (UNKNOWN if none)."""
    return next((code for code in grpc.StatusCode if code.value[0] == value), grpc.StatusCode.UNKNOWN)


@dataclass(frozen=True)
class JobError:
    code: grpc.StatusCode
    message: str


@dataclass(frozen=True)
class JobAnswer:
    """The face service's answer to one job: a result (and the returned image, if any), or an error."""

    job_id: str
    result: pb.JobResult | None = None
    image: bytes | None = None
    error: JobError | None = None

    @property
    def error_code(self) -> grpc.StatusCode | None:
        return self.error.code if self.error else None


class AnswerAssembler:
    """Collects a stream's ``JobResponse`` messages; ``add`` returns each job's answer once its last message came."""

    def __init__(self) -> None:
        self._images: dict[str, list[bytes]] = {}

    def add(self, response: pb.JobResponse) -> JobAnswer | None:
        pieces = self._images.setdefault(response.job_id, [])
        if response.image_chunk:
            pieces.append(response.image_chunk)
        if not response.last:
            return None
        del self._images[response.job_id]
        if response.HasField("error"):
            error = JobError(status_code(response.error.code), response.error.message)
            return JobAnswer(response.job_id, error=error)
        return JobAnswer(response.job_id, result=response.result, image=b"".join(pieces) or None)

    def forget(self, job_id: str) -> None:
        """Drop what was collected for a job nobody waits for any more."""
        self._images.pop(job_id, None)
