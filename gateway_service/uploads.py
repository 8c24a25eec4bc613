"""Checks every upload passes at the door: a size limit enforced while the body streams in, and magic bytes.

``UploadSizeLimitMiddleware`` refuses an upload whose Content-Length is already too big, and counts the bytes
of every other one as the application reads them, so a chunked or lying upload is cut off at the limit
instead of being read whole first.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceblur_proto.image_formats import ACCEPTED_FORMATS, sniff_image_format

__all__ = ["ACCEPTED_FORMATS", "UploadSizeLimitMiddleware", "sniff_image_format", "too_large_message"]

# Room for the multipart envelope (boundaries, part headers, the small option fields) around the image itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def describe_size(num_bytes: int) -> str:
    """A size as people read it: '312 bytes', '48.5 KiB', '30.2 MiB' (trailing .0 dropped)."""
    if num_bytes < 1024:
        return f"{num_bytes} bytes"
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.1f}".removesuffix(".0") + f" {unit}"
    raise AssertionError("unreachable")


def too_large_message(upload_bytes: int | None, limit_bytes: int, setting: str = "GATEWAY_MAX_UPLOAD_BYTES") -> str:
    """The 413 message: what came in (when known), the limit, and the setting that controls it."""
    limit = f"the limit is {describe_size(limit_bytes)} ({setting}={limit_bytes})"
    if upload_bytes is None:
        return f"upload is too large; {limit}"
    return f"upload is {describe_size(upload_bytes)}; {limit}"


def unsupported_type_message(head: bytes) -> str:
    return (
        "the uploaded file is not a supported image: its first bytes "
        f"({head[:8].hex(' ') or 'none'}) match none of {', '.join(f.upper() for f in ACCEPTED_FORMATS)}"
    )


class _BodyTooLarge(Exception):
    pass


class UploadSizeLimitMiddleware:
    """Answers 413 to POSTs (on ``paths``, or on every path but ``exclude`` when None) whose body exceeds
    ``limit_bytes`` plus the multipart envelope; the message names ``setting``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_bytes: int,
        paths: Collection[str] | None = None,
        exclude: Collection[str] = (),
        setting: str = "GATEWAY_MAX_UPLOAD_BYTES",
    ) -> None:
        self.app = app
        self.limit_bytes = limit_bytes
        self.body_limit = limit_bytes + MULTIPART_OVERHEAD_BYTES
        self.paths = frozenset(paths) if paths is not None else None
        self.exclude = frozenset(exclude)
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        limited = path in self.paths if self.paths is not None else path not in self.exclude
        if scope["type"] != "http" or scope["method"] != "POST" or not limited:
            await self.app(scope, receive, send)
            return

        declared = _content_length(scope)
        if declared is not None and declared > self.body_limit:
            await self._send_413(send, declared)
            return

        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.body_limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # The application turned our exception into an error response of its own; ours replaces it.
                return
            response_started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded and not response_started:
            await self._send_413(send, None)

    async def _send_413(self, send: Send, upload_bytes: int | None) -> None:
        body = json.dumps(
            {"detail": too_large_message(upload_bytes, self.limit_bytes, self.setting)}, separators=(",", ":")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
