"""Logging setup: the services' shared line format (faceblur_proto.json_logs) at the gateway's settings."""

from __future__ import annotations

from faceblur_proto.json_logs import configure_logging as _configure
from gateway_service.core.config import Settings


def configure_logging(settings: Settings) -> None:
    _configure(settings.log_format, settings.log_level)
