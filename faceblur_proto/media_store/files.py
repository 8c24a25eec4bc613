"""``FileStore``: the media store as a directory (file:///path), shared by gateways and face services as a volume.

Each key is a file under the root. A write goes to a hidden temporary file beside its target (``.<name>.<hex>.tmp``,
never listed) and is renamed onto it, so readers see whole files only, as the media directory always worked.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import BinaryIO

from faceblur_proto.media_store.base import (
    DEFAULT_CHUNK_BYTES,
    ByteStream,
    MediaNotFound,
    MediaStore,
    MediaStoreError,
    StoredObject,
    check_key,
    check_range,
    slice_bounds,
)

_TEMPORARY = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")
_COPY_BYTES = 1024 * 1024


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    while block := stream.read(_COPY_BYTES):
        yield block


def _temporary_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


@contextmanager
def _replacing(path: Path, replace_errors: AbstractContextManager[object] | None = None) -> Iterator[Path]:
    """A hidden temporary file beside ``path`` to write during the ``with`` block, renamed onto ``path`` when the
    block ends without an exception (in ``replace_errors``, if given) and deleted otherwise."""
    temporary = _temporary_beside(path)
    try:
        yield temporary
        with replace_errors or nullcontext():
            os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class FileStore(MediaStore):
    """The directory ``root`` (created on the first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.url = self.root.absolute().as_uri()

    def path(self, key: str) -> Path:
        """The file of ``key`` (it may not exist)."""
        return self.root / check_key(key)

    # --- writing ---------------------------------------------------------------------------------------------

    def put_file(self, key: str, source: Path) -> None:
        with open(source, "rb") as file:  # a missing source is the caller's FileNotFoundError, not the store's
            self._write(key, _blocks(file))

    def put_stream(self, key: str, stream: BinaryIO) -> None:
        self._write(key, _blocks(stream))

    def put_bytes(self, key: str, data: bytes) -> None:
        self._write(key, [data])

    def _write(self, key: str, blocks: Iterable[bytes]) -> None:
        """``blocks`` into a temporary file renamed onto ``key``'s. Errors of the blocks' source (a client that
        went away) are the caller's and pass unchanged; the store's own are MediaStoreError."""
        with self.local_output(key) as temporary:
            with self._failures("write", key):
                out = open(temporary, "wb")  # noqa: SIM115 -- closed below
            with out:
                for block in blocks:
                    with self._failures("write", key):
                        out.write(block)

    # --- reading ---------------------------------------------------------------------------------------------

    def get_file(self, key: str, destination: Path) -> None:
        with self.open(key) as source, _replacing(Path(destination)) as temporary, open(temporary, "wb") as out:
            shutil.copyfileobj(source, out, _COPY_BYTES)

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as file, self._failures("read", key):
            return file.read()

    def open(self, key: str) -> BinaryIO:
        path = self.path(key)
        with self._failures("read", key, missing_is_not_found=True):
            return open(path, "rb")

    def read_range(
        self, key: str, start: int = 0, stop: int | None = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES
    ) -> ByteStream:
        check_range(start, stop)
        file = self.open(key)
        try:
            size = os.fstat(file.fileno()).st_size
            first, last = slice_bounds(start, stop, size)
            file.seek(first)
        except BaseException:
            file.close()
            raise
        return ByteStream(self._chunks(key, file, last - first, chunk_bytes), first, last, size, file.close)

    # --- what is there -------------------------------------------------------------------------------------------

    def stat(self, key: str) -> StoredObject:
        path = self.path(key)
        with self._failures("read", key, missing_is_not_found=True):
            status = path.stat()
        if not path.is_file():
            raise MediaNotFound(key, self.url)
        return StoredObject(key, status.st_size, status.st_mtime)

    def list_under(self, under: str = "") -> list[StoredObject]:
        base = self.root / check_key(under, allow_root=True) if under else self.root
        found = []
        with self._failures("list", under or "/"):
            for directory, _, names in os.walk(base):
                for name in names:
                    if _TEMPORARY.fullmatch(name):
                        continue
                    path = Path(directory, name)
                    try:
                        status = path.stat()
                    except FileNotFoundError:  # deleted meanwhile
                        continue
                    found.append(StoredObject(path.relative_to(self.root).as_posix(), status.st_size, status.st_mtime))
        return sorted(found, key=lambda stored: stored.key)

    def delete(self, key: str) -> None:
        with self._failures("delete", key):
            self.path(key).unlink(missing_ok=True)

    def delete_under(self, under: str) -> int:
        count = len(self.list_under(under))
        base = self.root / check_key(under, allow_root=True) if under else self.root
        with self._failures("delete", under or "/"):
            if not base.is_dir():
                return 0
            children = [base] if under else list(base.iterdir())
            for child in children:
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink(missing_ok=True)
        return count

    def presigned_url(
        self, key: str, expires_seconds: int = 3600, *, content_type: str | None = None, filename: str | None = None
    ) -> str | None:
        check_key(key)
        return None

    def check(self) -> None:
        with self._failures("write", "a test file"):
            self.root.mkdir(parents=True, exist_ok=True)
            probe = _temporary_beside(self.root / "check")
            probe.write_bytes(b"")
            probe.unlink()

    # --- local files ---------------------------------------------------------------------------------------------

    @contextmanager
    def local_copy(self, key: str, temporary_dir: Path | None = None) -> Iterator[Path]:
        """The store's own file: no copy (do not change it)."""
        self.stat(key)
        yield self.path(key)

    @contextmanager
    def local_output(self, key: str, temporary_dir: Path | None = None) -> Iterator[Path]:
        """A hidden temporary file beside the target, renamed onto it when the block ends without an exception."""
        path = self.path(key)
        with self._failures("write", key):
            path.parent.mkdir(parents=True, exist_ok=True)
        with _replacing(path, self._failures("write", key)) as temporary:
            yield temporary

    # --- errors --------------------------------------------------------------------------------------------------

    def _ended_early(self, key: str, missing: int) -> MediaStoreError:  # the file was cut short meanwhile
        return MediaStoreError(f"media store {self.url}: {key} ended {missing} bytes early while read")

    @contextmanager
    def _failures(self, doing: str, key: str, missing_is_not_found: bool = False) -> Iterator[None]:
        """OSError -> MediaStoreError naming the store; a missing file (or a file where a directory should be)
        -> MediaNotFound where that is what a read means."""
        try:
            yield
        except MediaNotFound:
            raise
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as error:
            if missing_is_not_found:
                raise MediaNotFound(key, self.url) from error
            raise MediaStoreError(f"media store {self.url}: could not {doing} {key}: {error}") from error
        except OSError as error:
            raise MediaStoreError(f"media store {self.url}: could not {doing} {key}: {error}") from error
