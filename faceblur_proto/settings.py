"""The settings the gateway and the face service read alike, each under its own prefix (``GATEWAY_``, ``FACE_``).

Both settings objects derive from :class:`ServiceSettings`: the media store must be the same for both (README,
Media), so its default is written once here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from faceblur_proto.media_store import check_media_url


class ServiceSettings(BaseSettings):
    """The media store and log settings; a subclass sets ``env_prefix`` in its ``model_config``."""

    media_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "faceblur-media")
    """*_MEDIA_DIR: the media directory every gateway and face service shares (GATEWAY_MEDIA_DIR = FACE_MEDIA_DIR,
    e.g. a shared volume), used when *_MEDIA_URL is not set: video uploads, their work files and results
    (faceblur_proto/media.py); video jobs read and write files under it, and only under it."""

    media_url: str = ""
    """*_MEDIA_URL: the media store of videos, the same for every gateway and face service (GATEWAY_MEDIA_URL =
    FACE_MEDIA_URL): ``file:///path`` (a directory all of them see) or ``s3://bucket/prefix`` (an S3 bucket: the
    endpoint and credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; the
    services then share no directory). Unset: ``file://`` of *_MEDIA_DIR."""

    log_level: str = "INFO"
    """*_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."""

    log_format: str = Field("text", pattern="^(text|json)$")
    """*_LOG_FORMAT: ``text`` for people, ``json`` (one object a line, with the gateway's task_id or the face
    service's job_id) for log shippers."""

    @field_validator("media_url")
    @classmethod
    def _media_url(cls, value: str) -> str:
        return check_media_url(value, f"{cls.model_config['env_prefix']}MEDIA_URL")

    @property
    def media_store_url(self) -> str:
        """*_MEDIA_URL, or the directory *_MEDIA_DIR as a file:// URL."""
        return self.media_url or self.media_dir.absolute().as_uri()
