"""Logs: one JSON object a line when asked, carrying the task id a line is about."""

from __future__ import annotations

import json
import logging

from faceblur_proto.json_logs import JsonFormatter


def test_json_log_lines_carry_the_task_id() -> None:
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "task %s", ("done",), None)
    record.task_id = "3f2a"

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "task done"
    assert line["level"] == "INFO" and line["logger"] == "gateway"
    assert line["task_id"] == "3f2a"
    assert line["time"].endswith("Z")
