"""Licence plates from the Python client and the `faceblur` command (issue 25), against a live stack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faceblur_client import FaceBlurClient
from tests.stack import REPO_ROOT, SHARED, Stack

pytestmark = pytest.mark.timeout(300)

CAR = SHARED / "data" / "plates_dev" / "images" / "eu" / "eu5.jpg"


def test_the_client_detects_and_blurs_plates_when_asked(stack: Stack) -> None:
    client = FaceBlurClient(stack.gateway.url)

    found = client.detect(CAR, plates=True, plate_threshold=0.2)
    hidden = client.blur(CAR, plates=True, mode="solid")
    plain = client.detect(CAR)

    assert found.plates and all(plate["confidence"] >= 0.2 for plate in found.plates.values())
    assert found.task["options"] == {"plates": True, "plate_threshold": 0.2}
    assert len(hidden.plates) >= len(found.plates)  # the default plate threshold is below 0.2
    assert hidden.image is not None and hidden.task["options"]["mode"] == "solid"
    assert plain.plates == {} and "plates" not in plain.task["options"]


def test_the_cli_takes_plates_and_reports_them(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "faceblur_client", "blur", str(CAR), "-o", str(out), "--plates",
         "--url", stack.gateway.url],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    (line,) = [json.loads(text) for text in run.stdout.splitlines()]
    assert line["plate_count"] >= 1 and "plate_1" in line["plates"] and line["options"]["plates"] is True
    assert (out / "eu5.jpg").exists()
    count = line["plate_count"]
    assert f"0 faces, {count} plate{'' if count == 1 else 's'}" in run.stderr

    refused = subprocess.run(
        [sys.executable, "-m", "faceblur_client", "detect", str(CAR), "--plates", "--plate-threshold", "2",
         "--url", stack.gateway.url],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0 and "--plate-threshold" in refused.stderr
