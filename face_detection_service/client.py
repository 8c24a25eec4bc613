"""A small synchronous client for the face service: tests, benchmarks and debugging use it.

The gateway has its own asyncio client with long-lived streams; this one opens a stream per batch of jobs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.v1 import face_detection_pb2_grpc as pb_grpc

UPLOAD_CHUNK_BYTES = 1024 * 1024


@dataclass
class JobAnswer:
    job_id: str
    result: pb.JobResult | None = None
    error: pb.JobError | None = None
    image: bytes = b""

    @property
    def error_code(self) -> grpc.StatusCode | None:
        if self.error is None:
            return None
        return next(code for code in grpc.StatusCode if code.value[0] == self.error.code)


def job_requests(job_id: str, image: bytes, options: pb.JobOptions) -> Iterator[pb.JobRequest]:
    """One job as chunked requests: options on the first, `last` on the final one (an empty image is one message)."""
    chunks = [image[i : i + UPLOAD_CHUNK_BYTES] for i in range(0, len(image), UPLOAD_CHUNK_BYTES)] or [b""]
    for index, chunk in enumerate(chunks):
        yield pb.JobRequest(
            job_id=job_id,
            options=options if index == 0 else None,
            image_chunk=chunk,
            last=index == len(chunks) - 1,
        )


class FaceServiceClient:
    def __init__(self, address: str):
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.FaceDetectionStub(self.channel)
        self._ids = itertools.count(1)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> FaceServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server_info(self) -> pb.ServerInfo:
        return self.stub.GetServerInfo(pb.ServerInfoRequest(), timeout=10)

    def run_jobs(self, jobs: list[tuple[bytes, pb.JobOptions]], timeout: float = 120) -> list[JobAnswer]:
        """Send all jobs on one stream (interleaving nothing: each job's chunks in order); answers in job order."""
        ids = [f"job-{next(self._ids)}" for _ in jobs]
        requests = itertools.chain.from_iterable(
            job_requests(job_id, image, options) for job_id, (image, options) in zip(ids, jobs, strict=True)
        )
        answers = {job_id: JobAnswer(job_id) for job_id in ids}
        image_parts: dict[str, list[bytes]] = {job_id: [] for job_id in ids}
        for response in self.stub.ProcessJobs(requests, timeout=timeout):
            answer = answers[response.job_id]
            image_parts[response.job_id].append(response.image_chunk)
            if response.last:
                answer.image = b"".join(image_parts[response.job_id])
                if response.HasField("error"):
                    answer.error = response.error
                else:
                    answer.result = response.result
        return [answers[job_id] for job_id in ids]

    def detect(self, image: bytes, **options: object) -> JobAnswer:
        return self.run_jobs([(image, pb.JobOptions(kind=pb.JOB_KIND_DETECT, **options))])[0]

    def blur(self, image: bytes, **options: object) -> JobAnswer:
        return self.run_jobs([(image, pb.JobOptions(kind=pb.JOB_KIND_BLUR, **options))])[0]
