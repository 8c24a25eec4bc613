"""Downloads of stored files with HTTP Range (RFC 9110 section 14), refusing bad ranges as every other error is.

Starlette's FileResponse sends the ranges, but answers a malformed header with a plain-text 400 and an unknown
range unit with an error; here a ``bytes`` range that is malformed or lies past the end is a 416 with
``{"detail": ...}``, and a header in another unit is ignored: the whole file, 200 (RFC 9110 14.2).
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import HTTPException, Request, status
from fastapi.responses import FileResponse
from starlette.types import Receive, Scope, Send

_INT_RANGE = re.compile(r"(\d+)-(\d*)")
_SUFFIX_RANGE = re.compile(r"-(\d+)")
_MAX_RANGES = 100  # more parts than this is no player seeking: Starlette sends the whole file


def file_download(request: Request, path: Path, **file_response: str) -> FileResponse:
    """``path`` as a FileResponse (``file_response``: its media_type, filename, ...) that honours a valid byte
    Range, refuses a bad one with 416 and ignores one in a unit other than bytes."""
    header = request.headers.get("range")
    if header is None:
        return FileResponse(path, **file_response)
    unit, _, range_set = header.partition("=")
    if unit.strip().lower() != "bytes":
        return _FileIgnoringRange(path, **file_response)
    check_byte_ranges(range_set, path.stat().st_size)
    return FileResponse(path, **file_response)


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


class _FileIgnoringRange(FileResponse):
    """The whole file, as if the request had no Range header."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name.lower() != b"range"]
        await super().__call__({**scope, "headers": headers}, receive, send)
