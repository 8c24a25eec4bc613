"""The log line format of both services: readable text by default, one JSON object a line for log shippers."""

from __future__ import annotations

import json
import logging
import time

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Log records may carry these (logger.info(..., extra={"task_id": ...})); JSON lines show them as fields.
_CONTEXT_FIELDS = ("task_id", "job_id")


class JsonFormatter(logging.Formatter):
    """time (UTC, ms), level, logger, message, the record's ``task_id`` / ``job_id`` when it has them (passed as
    ``extra``), and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value:
                entry[name] = str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT, with ``[task <id>]`` appended when the record names a task."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        task_id = getattr(record, "task_id", None)
        return f"{line} [task {task_id}]" if task_id else line


def configure_logging(log_format: str, level: str) -> None:
    """Send every log record to stderr in ``log_format`` ("json" or "text") at ``level`` and above."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
