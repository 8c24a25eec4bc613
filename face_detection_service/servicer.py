"""The gRPC face:FaceDetection servicer: assembles chunked uploads per job and answers each job on its stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import grpc

from faceblur_proto.framing import error_response
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.v1 import face_detection_pb2_grpc as pb_grpc

from .config import Settings
from .detection.presets import PRESETS
from .imaging import ImageError
from .metrics import JOBS, STAGE_SECONDS
from .protocol import (
    InvalidOptions,
    is_video_job,
    job_spec,
    result_messages,
    video_job_spec,
    video_result_messages,
)
from .recognition.embedder import EmbeddingModelError
from .video.decoding import VideoInputError
from .video.encoding import VideoOutputError
from .workers import Overloaded, WorkerPool

log = logging.getLogger(__name__)
JOB_KIND_LABELS = {
    pb.JOB_KIND_DETECT: "detect",
    pb.JOB_KIND_BLUR: "blur",
    pb.JOB_KIND_EMBED: "embed",
    pb.JOB_KIND_DETECT_VIDEO: "detect_video",
    pb.JOB_KIND_BLUR_VIDEO: "blur_video",
}


class _Upload:
    def __init__(self, options: pb.JobOptions):
        self.options = options
        self.chunks: list[bytes] = []
        self.size = 0
        self.rejection: str | None = None


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
        reader = asyncio.create_task(self._read_jobs(request_iterator, outbox))
        try:
            while (item := await outbox.get()) is not None:
                if isinstance(item, BaseException):
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(item))
                yield item
        finally:
            reader.cancel()

    async def _read_jobs(self, requests: AsyncIterator[pb.JobRequest], outbox: asyncio.Queue) -> None:
        uploads: dict[str, _Upload] = {}
        running: set[asyncio.Task] = set()
        try:
            async for request in requests:
                if not request.job_id:
                    raise ValueError("every JobRequest needs a job_id")
                upload = uploads.get(request.job_id)
                if upload is None:
                    upload = uploads[request.job_id] = _Upload(request.options)
                self._add_chunk(upload, request.image_chunk)
                if request.last:
                    del uploads[request.job_id]
                    task = asyncio.create_task(self._answer(request.job_id, upload, outbox))
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

    def _add_chunk(self, upload: _Upload, chunk: bytes) -> None:
        if upload.rejection or not chunk:
            return
        upload.size += len(chunk)
        if upload.size > self.settings.max_image_bytes:
            upload.rejection = (
                f"image is larger than {self.settings.max_image_bytes / 2**20:.1f} MiB (FACE_MAX_IMAGE_BYTES)"
            )
            upload.chunks.clear()
        else:
            upload.chunks.append(chunk)

    async def _answer(self, job_id: str, upload: _Upload, outbox: asyncio.Queue) -> None:
        for message in await self._process(job_id, upload):
            await outbox.put(message)

    async def _process(self, job_id: str, upload: _Upload) -> list[pb.JobResponse]:
        kind = JOB_KIND_LABELS.get(upload.options.kind, "detect")
        try:
            if self.draining:
                raise _JobFailed(grpc.StatusCode.UNAVAILABLE, "server is shutting down; send the job again")
            if upload.rejection:
                raise _JobFailed(grpc.StatusCode.INVALID_ARGUMENT, upload.rejection)
            if is_video_job(upload.options):
                return await self._process_video(job_id, kind, upload)
            spec = job_spec(upload.options, self.settings.default_preset)
            data = b"".join(upload.chunks)
            upload.chunks.clear()
            output, queued_seconds = await self.pool.run_job(data, spec, self.settings.max_pixels)
        except (InvalidOptions, ImageError) as exc:
            return self._failed(job_id, kind, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except EmbeddingModelError as exc:
            return self._failed(job_id, kind, grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except Overloaded as exc:
            return self._failed(job_id, kind, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        except _JobFailed as exc:
            return self._failed(job_id, kind, exc.code, exc.message)
        except Exception as exc:
            log.exception("job %s failed", job_id, extra={"job_id": job_id})
            return self._failed(job_id, kind, grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
        JOBS.labels(kind=kind, outcome="success").inc()
        STAGE_SECONDS.labels(stage="queue").observe(queued_seconds)
        for stage, milliseconds in output.timings_ms.items():
            STAGE_SECONDS.labels(stage=stage.removesuffix("_ms")).observe(milliseconds / 1000)
        log.info(
            "job %s: %s, %d face(s), %s", job_id, kind, len(output.faces), output.timings_ms, extra={"job_id": job_id}
        )
        return result_messages(job_id, spec.preset.name, output, queued_seconds * 1000)

    async def _process_video(self, job_id: str, kind: str, upload: _Upload) -> list[pb.JobResponse]:
        """A video job: no image bytes, files in the media directory. Errors propagate to ``_process``'s handlers
        except the video ones: an unreadable input is the caller's fault, a failed write the server's."""
        if upload.size:
            raise _JobFailed(grpc.StatusCode.INVALID_ARGUMENT, "video jobs carry no image bytes")
        spec = video_job_spec(
            upload.options, self.settings.media_dir, self.settings.video_encoder_preset, self.settings.max_pixels
        )
        try:
            output, queued_seconds = await self.pool.run_video_job(spec)
        except VideoInputError as exc:
            return self._failed(job_id, kind, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except VideoOutputError as exc:
            return self._failed(job_id, kind, grpc.StatusCode.INTERNAL, str(exc))
        JOBS.labels(kind=kind, outcome="success").inc()
        STAGE_SECONDS.labels(stage="queue").observe(queued_seconds)
        for stage, milliseconds in output.timings_ms.items():
            STAGE_SECONDS.labels(stage=stage.removesuffix("_ms")).observe(milliseconds / 1000)
        log.info(
            "job %s: %s, %d frame(s), %s", job_id, kind, output.frames_done, output.timings_ms, extra={"job_id": job_id}
        )
        return video_result_messages(job_id, spec.preset.name, output, queued_seconds * 1000)

    @staticmethod
    def _failed(job_id: str, kind: str, code: grpc.StatusCode, message: str) -> list[pb.JobResponse]:
        JOBS.labels(kind=kind, outcome=code.name.lower()).inc()
        log.info("job %s: %s refused: %s (%s)", job_id, kind, message, code.name, extra={"job_id": job_id})
        return [error_response(job_id, code, message)]


class _JobFailed(Exception):
    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message
