"""Where video media lives: a directory shared by gateways and face services, or an S3 bucket (issue 24).

``open_media_store(url)`` turns GATEWAY_MEDIA_URL / FACE_MEDIA_URL into a ``MediaStore``:

* ``file:///absolute/path``: ``FileStore``, a directory (what GATEWAY_MEDIA_DIR / FACE_MEDIA_DIR mean today);
* ``s3://bucket`` or ``s3://bucket/prefix``: ``S3Store``, with the endpoint and credentials from the standard AWS
  variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION), so any
  S3-compatible store works.

The interface and its errors are in ``base``; boto3 is imported only when an s3:// URL is opened.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from faceblur_proto.media import UnsafeMediaPath
from faceblur_proto.media_store.base import (
    ByteStream,
    MediaNotFound,
    MediaStore,
    MediaStoreError,
    MediaStoreUnavailable,
    StoredObject,
    check_key,
)
from faceblur_proto.media_store.files import FileStore

__all__ = [
    "ByteStream",
    "FileStore",
    "MediaNotFound",
    "MediaStore",
    "MediaStoreError",
    "MediaStoreUnavailable",
    "StoredObject",
    "check_key",
    "check_media_url",
    "open_media_store",
]

URL_RULE = (
    "give file:///absolute/path (a directory) or s3://bucket/prefix (an S3 bucket; the endpoint and credentials "
    "come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION)"
)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def open_media_store(
    url: str, *, setting: str = "the media URL", environ: Mapping[str, str] | None = None, **s3_options: Any
) -> MediaStore:
    """The store ``url`` names; ValueError naming ``setting`` and the rule if it names none. ``environ`` (default
    os.environ) supplies the AWS variables; ``s3_options`` go to S3Store (timeouts, part sizes...)."""

    def refuse(problem: str) -> ValueError:
        return ValueError(f"{setting}={url!r} is not a media store URL ({problem}): {URL_RULE}")

    parts = urlsplit(url.strip())
    if parts.query or parts.fragment:
        raise refuse("it has a query or fragment")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise refuse(f"{parts.netloc!r} stands where file:/// has nothing; a path needs three slashes")
        path = unquote(parts.path)
        if not path.startswith("/") or path == "/":
            raise refuse("no absolute directory path")
        return FileStore(Path(path))
    if parts.scheme == "s3":
        bucket = parts.netloc
        if "@" in bucket or ":" in bucket:
            raise refuse("credentials or a port in the URL: they come from the AWS_* variables")
        if not _BUCKET.fullmatch(bucket) or ".." in bucket:
            raise refuse(f"{bucket!r} is not an S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
        prefix = unquote(parts.path).strip("/")
        try:
            check_key(prefix, allow_root=True)
        except UnsafeMediaPath:
            raise refuse(f"the prefix {prefix!r} is not a plain path such as faceblur/media") from None
        return _s3_store(bucket, prefix, os.environ if environ is None else environ, s3_options)
    if not parts.scheme and url.startswith("/"):
        raise refuse(f"a bare path; write file://{url}")
    raise refuse(f"the scheme {parts.scheme!r} is neither file nor s3" if parts.scheme else "no scheme")


def check_media_url(url: str, setting: str) -> str:
    """``url`` as given if it names a store, or if it is "" (a service's *_MEDIA_URL left unset: the directory of
    its *_MEDIA_DIR, ``Path.as_uri()``); otherwise ValueError naming ``setting`` and the rule. For settings
    validators: nothing is contacted."""
    if url:
        open_media_store(url, setting=setting)
    return url


def _s3_store(bucket: str, prefix: str, environ: Mapping[str, str], options: dict[str, Any]) -> MediaStore:
    from faceblur_proto.media_store.s3 import S3Store  # boto3 only where S3 is used

    def variable(*names: str) -> str | None:
        return next((environ[name] for name in names if environ.get(name)), None)

    settings: dict[str, Any] = {
        "endpoint_url": variable("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        "region": variable("AWS_REGION", "AWS_DEFAULT_REGION"),
        "access_key_id": variable("AWS_ACCESS_KEY_ID"),
        "secret_access_key": variable("AWS_SECRET_ACCESS_KEY"),
        "session_token": variable("AWS_SESSION_TOKEN"),
    }
    return S3Store(bucket, prefix, **(settings | options))
