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


def encode_form(fields: Mapping[str, object], files: Sequence[FilePart]) -> tuple[bytes, str]:
    """The body and its Content-Type header for (name, data) `files`, each in the field `file`, or for
    (name, data, field) ones in `field`; `fields` whose value is None are left out."""
    boundary = f"faceblur-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'.encode())
    for file_name, file_data, *field in files:
        field_name = field[0] if field else "file"
        content_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(field_name)}"; '
            f'filename="{_quoted(file_name)}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        parts.append(file_data)
        parts.append(b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
