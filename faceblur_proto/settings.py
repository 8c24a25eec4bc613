"""The settings the gateway and the face service read alike, each under its own prefix (``GATEWAY_``, ``FACE_``).

Both settings objects derive from :class:`ServiceSettings`: the media store must be the same for both (README,
Media), so its default is written once here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings
from typing_extensions import Self

from faceblur_proto.media_store import check_media_url


class ServiceSettings(BaseSettings):
    """The media store and log settings; a subclass sets ``env_prefix`` in its ``model_config`` and names its
    service for the message of a bad setting."""

    service: ClassVar[str]

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

    @classmethod
    def from_env(cls) -> Self:
        """The settings, or SystemExit naming each bad variable and what it expects."""
        try:
            return cls()
        except ValidationError as error:
            problems = setting_problems(error, cls.model_config["env_prefix"])
            raise SystemExit(f"{cls.service}: bad setting: {problems}") from None


def setting_problems(error: ValidationError, prefix: str) -> str:
    """``GATEWAY_PORT: Input should be ...; FACE_SERVICE_ADDRESSES: ...``: each problem under its variable's name."""
    problems = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else ""
        variable = field if field.isupper() else f"{prefix}{field.upper()}"  # aliases are the variables' names
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(message if message.startswith(f"{variable}:") else f"{variable}: {message}")
    return "; ".join(problems)
