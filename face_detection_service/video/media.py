"""Video jobs on the media store (FACE_MEDIA_URL): where a job's input and output keys become something FFmpeg reads
and a file the encoder writes.

A job names its files by key, relative to the store (``tasks/<id>/input.mp4``: the proto's ``input_path`` and
``output_path``); ``protocol.video_job_spec`` puts those keys in the spec's paths and ``run_stored_video_job``, in
the worker, replaces them:

* the input: on a directory store (file://), the file itself; on S3, a ``BlockReader`` that fetches the blocks the
  segment touches (1 MiB ranged GETs, 8 kept), so a worker reads about its segment's share of the input, never
  the whole file, and nothing lands on disk (measured in ``faceblur_proto/media_store/blocks.py``);
* a blur job's output: written to a file in FACE_SCRATCH_DIR (``MediaStore.local_output``), stored (multipart past
  16 MiB) when the segment is complete and the file deleted; on a directory store, a hidden file beside the target,
  renamed onto it. Either way a segment appears whole or not at all.

Errors, so the gateway can tell "retry later" from "this job cannot be done": a missing input is the caller's
(``VideoInputError``); a store that does not answer stays ``MediaStoreUnavailable`` (UNAVAILABLE: the gateway
retries the attempt once the store answers); a store that refuses a segment write is ``VideoOutputError`` (INTERNAL)
naming the store. Everything raised here crosses back from the worker process, so only exceptions that pickle do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from faceblur_proto.media_store import FileStore, MediaNotFound, MediaStore, MediaStoreError, MediaStoreUnavailable
from faceblur_proto.media_store.blocks import BlockReader

from ..detection.detector import FaceDetector
from ..detection.plates import PlateDetector
from .decoding import VideoInputError
from .encoding import VideoOutputError
from .jobs import BlurVideoSpec, VideoJobResult, VideoJobSpec, run_video_job


def media_key(path: Path | BinaryIO) -> str:
    """The store key a spec's path stands for (``protocol.video_job_spec`` made it from the job's key)."""
    assert isinstance(path, PurePosixPath), f"a stored job's path is its key, not {path!r}"
    return path.as_posix()


def run_stored_video_job(
    spec: VideoJobSpec,
    store: MediaStore,
    scratch_dir: Path,
    detector: FaceDetector,
    threads: int = 1,
    plate_detector: PlateDetector | None = None,
) -> VideoJobResult:
    """``spec``, whose paths are keys of ``store``, run on the stored input (and, for a blur job, its segment
    stored under the output key). Local work files go to ``scratch_dir`` and are gone when this returns."""
    try:
        with _input(store, media_key(spec.segment.input_path)) as source:
            stored = replace(spec, segment=replace(spec.segment, input_path=source))
            if not isinstance(stored, BlurVideoSpec):
                return run_video_job(stored, detector, threads, plate_detector)
            with _output(store, media_key(spec.output_path), scratch_dir) as output:
                return run_video_job(replace(stored, output_path=output), detector, threads)
    except MediaNotFound as missing:  # the input went while read (a FileNotFoundError that would not pickle)
        raise VideoInputError(f"the video file {missing.key!r} is no longer in the media store") from None


@contextmanager
def _input(store: MediaStore, key: str) -> Iterator[Path | BinaryIO]:
    if isinstance(store, FileStore):
        yield store.path(key)  # FFmpeg reads the file itself; a missing one is open_video's "does not exist"
        return
    try:
        reader = BlockReader(store, key)
    except MediaNotFound:
        raise VideoInputError(f"the video file {PurePosixPath(key).name!r} does not exist") from None
    with reader:
        yield reader


@contextmanager
def _output(store: MediaStore, key: str, scratch_dir: Path) -> Iterator[Path]:
    """A local file for the segment, stored under ``key`` when the block ends. The store's (or the scratch
    directory's) failure to take it is VideoOutputError naming it, unless the store did not answer; what the block
    itself raises passes unchanged."""
    body_failed = False
    try:
        scratch_dir.mkdir(parents=True, exist_ok=True)
        with store.local_output(key, scratch_dir) as path:
            try:
                yield path
            except BaseException:
                body_failed = True
                raise
    except MediaStoreUnavailable:
        raise
    except (MediaStoreError, OSError) as error:
        if body_failed or isinstance(error, MediaNotFound):
            raise
        reason = error.reason if isinstance(error, MediaStoreError) else f"{error} (FACE_SCRATCH_DIR={scratch_dir})"
        raise VideoOutputError(f"writing the video segment failed: {reason}") from None
