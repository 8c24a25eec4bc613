"""The ``MediaStore`` interface, its errors and the rule for object keys, shared by both implementations."""

from __future__ import annotations

import io
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from faceblur_proto.media import UnsafeMediaPath

DEFAULT_CHUNK_BYTES = 256 * 1024  # what a ByteStream yields at a time


class MediaStoreError(Exception):
    """The store could not do what was asked (refused credentials, no such bucket, a full disk...). ``reason``
    says what and names the store; a caller fails the task with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaStoreUnavailable(MediaStoreError):
    """The store did not answer: nothing listens at its endpoint, it timed out, it dropped the connection or
    answered 5xx / SlowDown after the client's bounded retries. Worth retrying the task later."""


class MediaNotFound(FileNotFoundError):
    """No object under that key (a FileNotFoundError, as a missing file in the media directory always was)."""

    def __init__(self, key: str, store: str) -> None:
        super().__init__(f"no object {key!r} in the media store {store}")
        self.key = key


def check_key(key: str, *, allow_root: bool = False) -> str:
    """``key`` if it is a normalized relative path ("tasks/abc/input.mp4"): not absolute, no "..", ".", empty or
    trailing parts. The same rule on both stores, so a key means the same object on either. UnsafeMediaPath
    (a ValueError) otherwise. With ``allow_root``, "" is accepted too (the whole store, for listing)."""
    if key == "" and allow_root:
        return key
    path = PurePosixPath(key)
    if not key or path.is_absolute() or "\\" in key or str(path) != key or {".", ".."} & set(key.split("/")):
        raise UnsafeMediaPath(f"media key {key!r} is not a normalized relative path such as tasks/<id>/video.mp4")
    return key


@dataclass(frozen=True)
class StoredObject:
    key: str  # relative to the store's root (directory or s3://bucket/prefix)
    size: int  # bytes
    modified: float  # seconds since the epoch (the file's mtime, the object's LastModified)


class ByteStream:
    """The bytes ``[start, stop)`` of an object (``size`` bytes in all), as an iterator of chunks. The request is
    made before it is returned, so a missing object or a down store is raised before the first byte (an HTTP
    answer can still become a 404 or 503). It closes itself at the end or on an error; close it (or use ``with``)
    when it is not read to the end."""

    def __init__(self, chunks: Iterator[bytes], start: int, stop: int, size: int, close: Any = None) -> None:
        self._chunks = chunks
        self.start, self.stop, self.size = start, stop, size
        self._close = close

    @property
    def length(self) -> int:
        return self.stop - self.start

    def __iter__(self) -> ByteStream:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except BaseException:  # StopIteration included
            self.close()
            raise

    def read_all(self) -> bytes:
        """The whole range in memory: for tests and small ranges only."""
        return b"".join(self)

    def close(self) -> None:
        if self._close is not None:
            close, self._close = self._close, None
            close()

    def __enter__(self) -> ByteStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ObjectReader(io.RawIOBase):
    """A seekable binary reader of one stored object of ``size`` bytes: a subclass fetches the bytes at
    ``_position`` (``_read``) and may drop what it holds when a seek moves it (``_moved``)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._position >= self.size or not len(view):
            return 0
        data = self._read(len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    @abstractmethod
    def _read(self, most: int) -> bytes:
        """Up to ``most`` bytes from ``_position``, which is before the end (b"" ends the reading)."""

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        starts = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}
        if whence not in starts:
            raise ValueError(f"invalid whence {whence}")
        position = starts[whence] + offset
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        if position != self._position:
            self._moved()
            self._position = position
        return position

    def _moved(self) -> None:
        """Called before a seek changes the position."""


def slice_bounds(start: int, stop: int | None, size: int) -> tuple[int, int]:
    """``[start, stop)`` of a ``size``-byte object, as Python slices bound them (clamped, never reversed)."""
    first, last, _ = slice(start, stop).indices(size)
    return first, max(first, last)


def check_range(start: int, stop: int | None) -> None:
    if stop is not None and stop < 0:
        raise ValueError(f"a byte range's stop must be None or >= 0, not {stop}")
    if start < 0 and stop is not None:
        raise ValueError("a suffix range (negative start) runs to the end: give stop=None")


class MediaStore(ABC):
    """Where video tasks' files live: a directory (``FileStore``) or an S3 bucket and prefix (``S3Store``).

    Objects are named by keys, relative paths such as ``faceblur_proto.media.TaskMedia`` makes. Every write is
    whole or nothing: a reader sees the old object, the new one or none, never part of one. Large objects move
    as streams or multipart transfers, never whole in memory. A missing object raises ``MediaNotFound`` (a
    FileNotFoundError); a store that fails raises ``MediaStoreError``, ``MediaStoreUnavailable`` when it did not
    answer. Implementations are safe to use from several threads (``asyncio.to_thread``)."""

    url: str  # what the store was opened from (file:///..., s3://bucket/prefix), for logs and error reasons

    # --- writing ---------------------------------------------------------------------------------------------

    @abstractmethod
    def put_file(self, key: str, source: Path) -> None:
        """Copy the local file ``source`` to ``key`` (multipart upload on S3 past the threshold)."""

    @abstractmethod
    def put_stream(self, key: str, stream: BinaryIO) -> None:
        """Read ``stream`` to its end into ``key``, a bounded number of chunks in memory at a time."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """``data`` (a small object: JSON, a faces file of a short clip) into ``key``."""

    def put_json(self, key: str, value: Any) -> None:
        """``value`` as JSON into ``key``, atomically (plan.json, probe.json, detect-NNNNN.json)."""
        self.put_bytes(key, json.dumps(value).encode())

    # --- reading ---------------------------------------------------------------------------------------------

    @abstractmethod
    def get_file(self, key: str, destination: Path) -> None:
        """Copy ``key`` to the local file ``destination``, which appears whole or not at all."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory: small objects only (JSON)."""

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A seekable binary reader of ``key`` that fetches what is read as it is read (PyAV can decode from
        it); close it after use."""

    @abstractmethod
    def read_range(
        self, key: str, start: int = 0, stop: int | None = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> ByteStream:
        """The bytes ``object[start:stop]``, as Python slices them: ``stop`` None is the end, a negative
        ``start`` (with stop None) the last ``-start`` bytes, a range past the end is empty. HTTP's
        ``bytes=FIRST-LAST`` is ``read_range(key, FIRST, LAST + 1)``, ``bytes=-N`` is ``read_range(key, -N)``."""

    # --- what is there -------------------------------------------------------------------------------------------

    @abstractmethod
    def stat(self, key: str) -> StoredObject:
        """The object's size and time; MediaNotFound if there is none."""

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except MediaNotFound:
            return False
        return True

    @abstractmethod
    def list_under(self, under: str = "") -> list[StoredObject]:
        """Every object below the "directory" ``under`` (``tasks/<id>`` lists that task, not ``tasks/<id>x``),
        sorted by key; ``""`` lists the whole store."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete ``key``; nothing happens if it is not there."""

    @abstractmethod
    def delete_under(self, under: str) -> int:
        """Delete every object below ``under`` (a task: ``tasks/<id>``); how many went."""

    @abstractmethod
    def presigned_url(
        self, key: str, expires_seconds: int = 3600, *, content_type: str | None = None, filename: str | None = None
    ) -> str | None:
        """A URL any HTTP client can GET ``key`` from (Range included) until it expires, answered with
        ``content_type`` and an inline ``filename``; None where the store has none (FileStore)."""

    @abstractmethod
    def check(self) -> None:
        """Raise MediaStoreError / MediaStoreUnavailable unless the store answers and can be written (a bucket
        that exists, a writable directory): for start-up and readiness checks."""

    # --- local files, for code that reads and writes paths (PyAV's probe and join, the face services) ---------

    @contextmanager
    def local_copy(self, key: str, temporary_dir: Path | None = None) -> Iterator[Path]:
        """A local file with ``key``'s bytes for the ``with`` block (read it, do not change it): downloaded to
        ``temporary_dir`` and deleted after; FileStore gives its own file."""
        with _scratch_file(key, temporary_dir) as path:
            self.get_file(key, path)
            yield path

    @contextmanager
    def local_output(self, key: str, temporary_dir: Path | None = None) -> Iterator[Path]:
        """A local path to write ``key``'s new content to during the ``with`` block; stored when the block ends
        without an exception (nothing is stored otherwise), and the local file deleted."""
        with _scratch_file(check_key(key), temporary_dir) as path:
            yield path
            self.put_file(key, path)

    # --- for the implementations ---------------------------------------------------------------------------------

    @abstractmethod
    def _failures(self, doing: str, key: str, missing_is_not_found: bool = False) -> AbstractContextManager[None]:
        """A context in which the store's own errors become MediaStoreError / MediaStoreUnavailable naming the
        store and what it was doing, and a missing object MediaNotFound where that is what a read means."""

    @abstractmethod
    def _ended_early(self, key: str, missing: int) -> MediaStoreError:
        """The error for an object that ran out ``missing`` bytes before the end its size promised."""

    def _chunks(self, key: str, body: BinaryIO, length: int, chunk_bytes: int, skip: int = 0) -> Iterator[bytes]:
        """``length`` bytes of ``key`` from ``body``, at most ``chunk_bytes`` at a time, after dropping its first
        ``skip`` bytes."""
        while length > 0:
            with self._failures("read", key):
                chunk = body.read(min(chunk_bytes, skip or length))
            if not chunk:
                raise self._ended_early(key, length)
            if skip:
                skip -= len(chunk)
                continue
            length -= len(chunk)
            yield chunk

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


@contextmanager
def _scratch_file(key: str, directory: Path | None) -> Iterator[Path]:
    """A new empty local file in ``directory`` (the system's temporary one by default) with ``key``'s suffix, deleted
    after the ``with`` block."""
    handle, name = tempfile.mkstemp(prefix=".media-", suffix=PurePosixPath(key).suffix, dir=directory)
    os.close(handle)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
