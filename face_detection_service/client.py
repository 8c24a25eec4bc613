"""A small synchronous client for the face service: tests, benchmarks and debugging use it.

The gateway has its own asyncio client with long-lived streams; this one opens a stream per batch of jobs.
Both frame jobs with ``faceblur_proto.framing``.
"""

from __future__ import annotations

import itertools

import grpc

from faceblur_proto.framing import AnswerAssembler, JobAnswer, job_requests
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.v1 import face_detection_pb2_grpc as pb_grpc


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
            job_requests(job_id, options, image) for job_id, (image, options) in zip(ids, jobs, strict=True)
        )
        assembler = AnswerAssembler()
        answers: dict[str, JobAnswer] = {}
        for response in self.stub.ProcessJobs(requests, timeout=timeout):
            answer = assembler.add(response)
            if answer is not None:
                answers[answer.job_id] = answer
        return [answers.get(job_id) or JobAnswer(job_id) for job_id in ids]

    def detect(self, image: bytes, **options: object) -> JobAnswer:
        return self.run_jobs([(image, pb.JobOptions(kind=pb.JOB_KIND_DETECT, **options))])[0]

    def blur(self, image: bytes, **options: object) -> JobAnswer:
        return self.run_jobs([(image, pb.JobOptions(kind=pb.JOB_KIND_BLUR, **options))])[0]

    def embed(self, image: bytes, **options: object) -> JobAnswer:
        return self.run_jobs([(image, pb.JobOptions(kind=pb.JOB_KIND_EMBED, **options))])[0]
