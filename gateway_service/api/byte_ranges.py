"""Downloads of stored objects with HTTP Range (RFC 9110 section 14), refusing bad ranges as every other error is.

The bytes come from the media store (``MediaStore.read_range``: a file of a directory store, ranged GETs on S3),
through Starlette's FileResponse, whose range handling (one range: 206 with Content-Range; several: multipart/
byteranges; If-Range; HEAD with the headers only) is kept whole: only where it reads the bytes is replaced. Its
answers to bad ranges are not kept: here a ``bytes`` range that is malformed or lies past the end is a 416 with
``{"detail": ...}``, and a header in another unit is ignored: the whole object, 200 (RFC 9110 14.2).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import HTTPException, Request, status
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

from faceblur_proto.media_store import ByteStream, MediaStore, StoredObject

_INT_RANGE = re.compile(r"(\d+)-(\d*)")
_SUFFIX_RANGE = re.compile(r"-(\d+)")
_MAX_RANGES = 100  # more parts than this is no player seeking: Starlette sends the whole file
_CHUNK_BYTES = 256 * 1024


def stored_download(request: Request, store: MediaStore, stored: StoredObject, **file_response: Any) -> FileResponse:
    """``stored`` (its size and time from ``store.stat``) as a response (``file_response``: its media_type,
    filename, ...) that honours a valid byte Range, refuses a bad one with 416 and ignores one in a unit other than
    bytes."""
    header = request.headers.get("range")
    if header is not None:
        unit, _, range_set = header.partition("=")
        if unit.strip().lower() != "bytes":
            return StoredFileResponse(store, stored, ignore_range=True, **file_response)
        check_byte_ranges(range_set, stored.size)
    return StoredFileResponse(store, stored, **file_response)


def check_byte_ranges(range_set: str, size: int) -> None:
    """416 with a detail unless ``range_set`` (after "bytes=") is a list of valid ranges that all start inside a
    file of ``size`` bytes."""
    parts = [part.strip() for part in range_set.split(",") if part.strip()]
    if not parts:
        raise _unsatisfiable(
            f"the Range header names no byte range: give bytes=FIRST-LAST, e.g. bytes=0-{size - 1}", size
        )
    if len(parts) > _MAX_RANGES:
        return
    for part in parts:
        whole = _INT_RANGE.fullmatch(part)
        suffix = _SUFFIX_RANGE.fullmatch(part)
        if whole is None and suffix is None:
            raise _unsatisfiable(f"the byte range {part!r} is malformed: give FIRST-LAST, FIRST- or -LENGTH", size)
        if whole is not None:
            first, last = int(whole[1]), whole[2]
            if last and int(last) < first:
                raise _unsatisfiable(f"the byte range {part!r} ends before it starts", size)
            if first >= size:
                raise _unsatisfiable(f"the byte range {part!r} starts past the end of the {size}-byte file", size)
        elif suffix is not None and int(suffix[1]) == 0:
            raise _unsatisfiable(f"the byte range {part!r} asks for no bytes", size)


def _unsatisfiable(detail: str, size: int) -> HTTPException:
    return HTTPException(
        status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE, detail, headers={"Content-Range": f"bytes */{size}"}
    )


class StoredFileResponse(FileResponse):
    """FileResponse of an object in a media store: Content-Length, Last-Modified and ETag from its ``StoredObject``,
    the bytes read through ``read_range`` as they are sent (never the whole object in memory). ``ignore_range``:
    the whole object, as if the request had no Range header."""

    chunk_size = _CHUNK_BYTES

    def __init__(self, store: MediaStore, stored: StoredObject, *, ignore_range: bool = False, **file_response: Any):
        regular_file = stat.S_IFREG | 0o644
        stat_result = os.stat_result((regular_file, 0, 0, 1, 0, 0, stored.size, stored.modified, stored.modified, 0))
        super().__init__(stored.key, stat_result=stat_result, **file_response)
        self.store, self.key = store, stored.key
        self.ignore_range = ignore_range

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        if self.ignore_range:
            headers = [(name, value) for name, value in headers if name.lower() != b"range"]
        # The object is no local file a server could send by path (ASGI pathsend).
        extensions = {name: value for name, value in scope.get("extensions", {}).items() if "pathsend" not in name}
        await super().__call__({**scope, "headers": headers, "extensions": extensions}, receive, send)

    @asynccontextmanager
    async def _open_file(self) -> AsyncIterator[Any]:
        reader = _StoredReader(self.store, self.key)
        try:
            yield reader
        finally:
            with anyio.CancelScope(shield=True):
                await reader.aclose()


class _StoredReader:
    """What FileResponse reads a file through (``seek``, ``read``), over ``MediaStore.read_range``: one request from
    the position on, read as far as it is sent; a seek elsewhere (the next part of a multipart answer) another."""

    def __init__(self, store: MediaStore, key: str) -> None:
        self._store, self._key = store, key
        self._position = 0
        self._stream: ByteStream | None = None
        self._pending = b""

    async def seek(self, position: int) -> None:
        if position != self._position:
            await self.aclose()
            self._position = position

    async def read(self, size: int) -> bytes:
        """``size`` bytes, fewer only at the end of the object (FileResponse takes a short read for the end)."""
        if self._stream is None:
            self._stream = await anyio.to_thread.run_sync(self._open)
        parts, wanted = [], size
        while wanted > 0:
            if not self._pending:
                self._pending = await anyio.to_thread.run_sync(next, self._stream, b"")
                if not self._pending:
                    break
            parts.append(self._pending[:wanted])
            self._pending = self._pending[wanted:]
            wanted -= len(parts[-1])
        data = b"".join(parts)
        self._position += len(data)
        return data

    def _open(self) -> ByteStream:
        return self._store.read_range(self._key, self._position, chunk_bytes=_CHUNK_BYTES)

    async def aclose(self) -> None:
        if self._stream is not None:
            stream, self._stream, self._pending = self._stream, None, b""
            await anyio.to_thread.run_sync(stream.close)
