"""Worker processes, each with its own model instance, behind a bounded queue.

Processes, not threads: LiteRT holds the GIL while it runs a model, so two threads in one process run one model
at a time (measured: two threads gave the throughput of one). One process per core keeps every core busy. The
queue bound turns overload into an immediate, explicit refusal instead of unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import cv2

from faceblur_proto.media_store import MediaStore, open_media_store

from .detection.detector import FaceDetector
from .detection.loader import load_detector
from .detection.plates import PlateDetector, load_plate_detector
from .jobs import JobResult, JobSpec, PlatesUnavailable, run_job
from .metrics import PENDING_JOBS, WORKERS
from .recognition.embedder import FaceEmbedder, load_embedder
from .video.jobs import DetectVideoSpec, VideoJobResult, VideoJobSpec
from .video.media import run_stored_video_job

T = TypeVar("T")
M = TypeVar("M", PlateDetector, FaceEmbedder)  # a model loaded on a worker's first job that needs it

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OnFirstUse:
    """What a worker opens on its first job that needs it, not at start."""

    # The face-recognition model (FACE_EMBEDDING_MODEL), loaded on the first embed job, so a service that never
    # embeds pays no memory or start time for it (the server checks the file once at start, so a bad setting still
    # fails early).
    embedding_model: str = ""
    # The media store of video jobs (FACE_MEDIA_URL), opened on the first video job, so image jobs never touch it
    # (nor import boto3), and FACE_SCRATCH_DIR for the local files of its segments.
    media_url: str = ""
    scratch_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    # The plate model, loaded on the first job with plates (the server checked it at start): FACE_PLATE_MODEL and
    # FACE_PLATE_THRESHOLD; None with FACE_PLATES=false.
    plate_setting: str | None = None
    plate_threshold: float = 0.0


_detector: FaceDetector | None = None  # the model instance of this worker process
_threads = 1
_later = OnFirstUse()


class Overloaded(RuntimeError):
    pass


def load_worker_model(model_path: Path | None, threads: int, later: OnFirstUse | None = None) -> None:
    """Process initializer: load this worker's detector once, and note which recognition model, plate model and
    media store to open later."""
    global _detector, _threads, _later
    # Ctrl-C reaches the whole process group; the parent decides when workers stop, after jobs in flight.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # OpenCV's pool would start a thread per core in every worker; the workers already fill the cores.
    cv2.setNumThreads(threads)
    _detector = load_detector(model_path, threads)
    _threads, _later = threads, later or OnFirstUse()


# The models and the media store a worker opens on its first job that needs them, then keeps (one per process).


@cache
def worker_plate_detector() -> PlateDetector:
    """This worker's plate detector, loaded on first use; PlatesUnavailable with FACE_PLATES=false."""
    setting, threshold = _later.plate_setting, _later.plate_threshold
    if setting is None:
        raise PlatesUnavailable("this face service does not detect licence plates (FACE_PLATES=false)")
    return _timed_load("plate model", lambda: load_plate_detector(setting, _threads, threshold))


@cache
def worker_embedder() -> FaceEmbedder:
    """This worker's face-recognition model, loaded on first use."""
    return _timed_load("embedding model", lambda: load_embedder(_later.embedding_model, _threads))


@cache
def worker_media_store() -> MediaStore:
    """This worker's media store (FACE_MEDIA_URL), opened on first use."""
    return open_media_store(_later.media_url, setting="FACE_MEDIA_URL")


def _timed_load(kind: str, load: Callable[[], M]) -> M:
    """``load()``, logging how long it took (it delays the worker's first job that needs the model)."""
    started = time.perf_counter()
    model = load()
    log.info("loaded the %s %s in %.0f ms", kind, model.name, (time.perf_counter() - started) * 1000)
    return model


def worker_model_name() -> str:
    assert _detector is not None
    return _detector.name


def run_job_in_worker(data: bytes, spec: JobSpec, max_pixels: int, enqueued_at: float) -> tuple[JobResult, float]:
    """Runs in a worker process: the job's output and the seconds it waited for this worker."""
    assert _detector is not None
    waited = time.time() - enqueued_at
    embedder = worker_embedder() if spec.embed else None
    plates = worker_plate_detector() if spec.plates else None
    return run_job(data, spec, _detector, max_pixels, embedder, plates), waited


def run_video_job_in_worker(spec: VideoJobSpec, enqueued_at: float) -> tuple[VideoJobResult, float]:
    """Runs in a worker process: the video job's output and the seconds it waited for this worker. The spec's paths
    are keys of the media store."""
    assert _detector is not None
    waited = time.time() - enqueued_at
    plates = worker_plate_detector() if isinstance(spec, DetectVideoSpec) and spec.plates else None
    return run_stored_video_job(spec, worker_media_store(), _later.scratch_dir, _detector, _threads, plates), waited


class WorkerPool:
    def __init__(
        self,
        model_path: Path | None,
        threads: int,
        workers: int,
        queue_size: int,
        later: OnFirstUse | None = None,
    ):
        self.workers = workers
        self.queue_size = queue_size
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=load_worker_model,
            initargs=(model_path, threads, later),
        )
        self._pending = 0  # queued + running; only touched on the event loop thread
        self._idle = asyncio.Event()
        self._idle.set()
        WORKERS.set(workers)
        PENDING_JOBS.set(0)

    @property
    def pending(self) -> int:
        return self._pending

    async def start(self) -> str:
        """Start every worker and load its model; returns the model's name."""
        loop = asyncio.get_running_loop()
        names = await asyncio.gather(
            *(loop.run_in_executor(self._executor, worker_model_name) for _ in range(self.workers))
        )
        return names[0]

    async def run_job(self, data: bytes, spec: JobSpec, max_pixels: int) -> tuple[JobResult, float]:
        return await self._run(run_job_in_worker, data, spec, max_pixels, time.time())

    async def run_video_job(self, spec: VideoJobSpec) -> tuple[VideoJobResult, float]:
        """A video segment job on a worker (with that worker's detector), counted like an image job: it holds one
        of the pending slots for as long as it runs."""
        return await self._run(run_video_job_in_worker, spec, time.time())

    async def _run(self, work: Callable[..., T], *args: Any) -> T:
        """``work(*args)`` in a worker process; Overloaded when the queue is full."""
        if self._pending >= self.workers + self.queue_size:
            raise Overloaded(
                f"server busy: {self._pending} jobs already queued or running "
                f"(FACE_WORKERS={self.workers}, FACE_QUEUE_SIZE={self.queue_size}); retry later"
            )
        self._pending += 1
        PENDING_JOBS.set(self._pending)
        self._idle.clear()
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, work, *args)
        finally:
            self._pending -= 1
            PENDING_JOBS.set(self._pending)
            if self._pending == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
