"""multipart/form-data request bodies: the option fields, then the image(s), each in a field `file` unless
named otherwise."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Mapping, Sequence


def _quoted(value: str) -> str:
    """A header parameter value that cannot break out of its quotes or its line."""
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", " ").replace("\n", " ")


FilePart = tuple[str, bytes] | tuple[str, bytes, str]


def new_boundary() -> str:
    return f"faceblur-{uuid.uuid4().hex}"


def field_parts(fields: Mapping[str, object], boundary: str) -> bytes:
    """The option fields, each a part; those whose value is None are left out."""
    parts: list[bytes] = []
    for name, value in fields.items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode())
    return b"".join(parts)


def file_header(boundary: str, file_name: str, field_name: str = "file") -> bytes:
    """The start of a file part, up to its data (which ends with CRLF)."""
    content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(field_name)}"; '
        f'filename="{_quoted(file_name)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )


def closing(boundary: str) -> bytes:
    return f"--{boundary}--\r\n".encode()


def encode_form(fields: Mapping[str, object], files: Sequence[FilePart]) -> tuple[bytes, str]:
    """The body and its Content-Type header for (name, data) `files`, each in the field `file`, or for
    (name, data, field) ones in `field`; `fields` whose value is None are left out."""
    boundary = new_boundary()
    parts: list[bytes] = [field_parts(fields, boundary)]
    for file_name, file_data, *field in files:
        parts.append(file_header(boundary, file_name, field[0] if field else "file"))
        parts.append(file_data)
        parts.append(b"\r\n")
    parts.append(closing(boundary))
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
