"""The gRPC face:FaceDetection servicer: assembles chunked uploads per job and answers each job on its stream.

The servicer's methods hold only the stream; the work is plain functions: ``read_jobs`` (chunks -> whole jobs),
``answer_job`` (one job -> its messages, with the metrics, the log line and the error -> status mapping every kind
shares) and a function per kind of job (``answer_image_job``, ``answer_video_job``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc

from faceblur_proto.framing import error_response
from faceblur_proto.media_store import MediaStoreError, MediaStoreUnavailable
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.v1 import face_detection_pb2_grpc as pb_grpc
from faceblur_proto.vocabulary import JobKind

from .config import Settings
from .detection.presets import PRESETS
from .imaging import ImageError
from .jobs import PlatesUnavailable
from .metrics import JOBS, STAGE_SECONDS
from .protocol import (
    InvalidOptions,
    job_kind,
    job_spec,
    result_messages,
    video_job_spec,
    video_result_messages,
)
from .recognition.embedder import EmbeddingModelError
from .video.decoding import VideoInputError
from .video.encoding import VideoOutputError
from .video.jobs import DetectVideoSpec
from .workers import Overloaded, WorkerPool

log = logging.getLogger(__name__)

# The status each error a job may end with answers with, its message for the caller; any other is INTERNAL.
ERROR_CODES: tuple[tuple[type[Exception], grpc.StatusCode], ...] = (
    (InvalidOptions, grpc.StatusCode.INVALID_ARGUMENT),
    (ImageError, grpc.StatusCode.INVALID_ARGUMENT),
    (VideoInputError, grpc.StatusCode.INVALID_ARGUMENT),  # an unreadable input video is the caller's fault
    (EmbeddingModelError, grpc.StatusCode.FAILED_PRECONDITION),
    (PlatesUnavailable, grpc.StatusCode.FAILED_PRECONDITION),  # FACE_PLATES=false
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (VideoOutputError, grpc.StatusCode.INTERNAL),  # a segment that cannot be written is the server's
    # The media store did not answer: not this job's fault, the gateway sends it again once the store answers.
    (MediaStoreUnavailable, grpc.StatusCode.UNAVAILABLE),
    (MediaStoreError, grpc.StatusCode.INTERNAL),  # it refused (credentials, no bucket): named in the message
)


class Upload:
    """One job's options and its image bytes as they arrive in chunks, up to FACE_MAX_IMAGE_BYTES."""

    def __init__(self, options: pb.JobOptions):
        self.options = options
        self.chunks: list[bytes] = []
        self.size = 0
        self.rejection: str | None = None

    def add(self, chunk: bytes, max_bytes: int) -> None:
        if self.rejection or not chunk:
            return
        self.size += len(chunk)
        if self.size > max_bytes:
            self.rejection = f"image is larger than {max_bytes / 2**20:.1f} MiB (FACE_MAX_IMAGE_BYTES)"
            self.chunks.clear()
        else:
            self.chunks.append(chunk)

    def take(self) -> bytes:
        """The whole image, once: the chunks are let go."""
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class JobFailed(Exception):
    """A job refused before it runs, with the status it answers with."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Answered:
    """A job's answer, with what is measured and logged about it."""

    messages: list[pb.JobResponse]
    queued_seconds: float
    timings_ms: dict[str, float]
    summary: str  # for the log line: "3 face(s)", "120 frame(s)"


class FaceDetectionServicer(pb_grpc.FaceDetectionServicer):
    def __init__(self, settings: Settings, pool: WorkerPool, model_name: str):
        self.settings = settings
        self.pool = pool
        self.model_name = model_name
        self.draining = False

    async def GetServerInfo(self, request: pb.ServerInfoRequest, context: grpc.aio.ServicerContext) -> pb.ServerInfo:
        return pb.ServerInfo(
            model=self.model_name,
            presets=list(PRESETS),
            default_preset=self.settings.default_preset,
            max_image_bytes=self.settings.max_image_bytes,
            max_pixels=self.settings.max_pixels,
            workers=self.settings.workers,
        )

    async def ProcessJobs(
        self, request_iterator: AsyncIterator[pb.JobRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.JobResponse]:
        outbox: asyncio.Queue[pb.JobResponse | BaseException | None] = asyncio.Queue()
        reader = asyncio.create_task(
            read_jobs(request_iterator, outbox, self.settings.max_image_bytes, self._answer_job)
        )
        try:
            while (item := await outbox.get()) is not None:
                if isinstance(item, BaseException):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(item))
                yield item
        finally:
            reader.cancel()

    async def _answer_job(self, job_id: str, upload: Upload) -> list[pb.JobResponse]:
        return await answer_job(job_id, upload, self.settings, self.pool, self.draining)


async def read_jobs(
    requests: AsyncIterator[pb.JobRequest],
    outbox: asyncio.Queue,
    max_image_bytes: int,
    answer: Callable[[str, Upload], Awaitable[list[pb.JobResponse]]],
) -> None:
    """Reassemble each job's chunks and answer every complete job into ``outbox``, jobs running side by side; then
    ``None`` (the stream is done), or the ValueError of a malformed stream."""
    uploads: dict[str, Upload] = {}
    running: set[asyncio.Task] = set()

    async def answer_into_outbox(job_id: str, upload: Upload) -> None:
        for message in await answer(job_id, upload):
            await outbox.put(message)

    try:
        async for request in requests:
            if not request.job_id:
                raise ValueError("every JobRequest needs a job_id")
            upload = uploads.get(request.job_id)
            if upload is None:
                upload = uploads[request.job_id] = Upload(request.options)
            upload.add(request.image_chunk, max_image_bytes)
            if request.last:
                del uploads[request.job_id]
                task = asyncio.create_task(answer_into_outbox(request.job_id, upload))
                running.add(task)
                task.add_done_callback(running.discard)
        if uploads:
            raise ValueError(f"stream closed with {len(uploads)} unfinished upload(s) (no message with last=true)")
        if running:
            await asyncio.gather(*running)
        await outbox.put(None)
    except asyncio.CancelledError:
        for task in running:
            task.cancel()
        raise
    except ValueError as exc:
        await outbox.put(exc)
    except grpc.aio.AioRpcError:
        await outbox.put(None)


async def answer_job(
    job_id: str, upload: Upload, settings: Settings, pool: WorkerPool, draining: bool = False
) -> list[pb.JobResponse]:
    """One job's messages: its result, or the error it ended with; counted and logged either way."""
    kind = job_kind(upload.options)
    label = (kind or JobKind.DETECT).value
    try:
        if draining:
            raise JobFailed(grpc.StatusCode.UNAVAILABLE, "server is shutting down; send the job again")
        if upload.rejection:
            raise JobFailed(grpc.StatusCode.INVALID_ARGUMENT, upload.rejection)
        run = answer_video_job if kind is not None and kind.is_video else answer_image_job
        answered = await run(job_id, upload, settings, pool)
    except Exception as exc:
        code, message = error_status(job_id, exc)
        JOBS.labels(kind=label, outcome=code.name.lower()).inc()
        log.info("job %s: %s refused: %s (%s)", job_id, label, message, code.name, extra={"job_id": job_id})
        return [error_response(job_id, code, message)]
    JOBS.labels(kind=label, outcome="success").inc()
    STAGE_SECONDS.labels(stage="queue").observe(answered.queued_seconds)
    for stage, milliseconds in answered.timings_ms.items():
        STAGE_SECONDS.labels(stage=stage.removesuffix("_ms")).observe(milliseconds / 1000)
    log.info("job %s: %s, %s, %s", job_id, label, answered.summary, answered.timings_ms, extra={"job_id": job_id})
    return answered.messages


async def answer_image_job(job_id: str, upload: Upload, settings: Settings, pool: WorkerPool) -> Answered:
    """A detect, blur or embed job on the uploaded image."""
    spec = job_spec(upload.options, settings.default_preset)
    output, queued_seconds = await pool.run_job(upload.take(), spec, settings.max_pixels)
    messages = result_messages(job_id, spec.preset.name, output, queued_seconds * 1000)
    return Answered(messages, queued_seconds, output.timings_ms, f"{len(output.faces)} face(s)")


async def answer_video_job(job_id: str, upload: Upload, settings: Settings, pool: WorkerPool) -> Answered:
    """A detect-video or blur-video job: no image bytes, its files in the media store (FACE_MEDIA_URL)."""
    if upload.size:
        raise JobFailed(grpc.StatusCode.INVALID_ARGUMENT, "video jobs carry no image bytes")
    spec = video_job_spec(upload.options, settings.video_encoder_preset, settings.max_pixels)
    output, queued_seconds = await pool.run_video_job(spec)
    preset_name = spec.preset.name if isinstance(spec, DetectVideoSpec) else ""  # a blur-video job detects nothing
    messages = video_result_messages(job_id, preset_name, output, queued_seconds * 1000)
    return Answered(messages, queued_seconds, output.timings_ms, f"{output.frames_done} frame(s)")


def error_status(job_id: str, error: Exception) -> tuple[grpc.StatusCode, str]:
    """The status and message a job that raised ``error`` answers with; an unexpected error is logged whole."""
    if isinstance(error, JobFailed):
        return error.code, error.message
    for kind, code in ERROR_CODES:
        if isinstance(error, kind):
            return code, str(error)
    log.error("job %s failed", job_id, exc_info=error, extra={"job_id": job_id})
    return grpc.StatusCode.INTERNAL, f"internal error: {type(error).__name__}: {error}"
