"""The face service's settings: a bad value stops it at start with the variable's name and what it expects."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from face_detection_service.config import Settings
from tests.stack import REPO_ROOT


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [("FACE_WORKERS", "abc", "valid integer"), ("FACE_DEFAULT_PRESET", "quick", "fast, balanced, max_recall")],
)
def test_a_bad_setting_stops_the_service_naming_the_variable(variable: str, value: str, expected: str) -> None:
    command, env = [sys.executable, "-m", "face_detection_service"], {**os.environ, variable: value}
    started = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode != 0
    assert variable in started.stderr and expected in started.stderr, started.stderr


def test_settings_default_to_one_worker_per_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACE_WORKERS", raising=False)
    assert Settings().workers == (os.cpu_count() or 1)
    monkeypatch.setenv("FACE_WORKERS", "16")
    assert Settings().workers == 16
