"""The `faceblur` command and the top-level test scripts, run as a user would, against a live stack."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import REFERENCE_IMAGE, REPO_ROOT, Stack, free_port


def faceblur(*args: str | Path, url: str) -> subprocess.CompletedProcess[str]:
    """`faceblur ARGS` (as `python -m faceblur_client`, the same entry point the installed command calls)."""
    return subprocess.run(
        [sys.executable, "-m", "faceblur_client", *map(str, args), "--url", url],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(REFERENCE_IMAGE, folder / "first.jpg")
    shutil.copy(REFERENCE_IMAGE, folder / "second.jpg")
    return folder


def test_detect_prints_one_json_line_per_image(stack: Stack, photos: Path) -> None:
    run = faceblur("detect", photos / "first.jpg", photos / "second.jpg", "-j", "2", url=stack.gateway.url)

    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted(line["file"] for line in lines) == [str(photos / "first.jpg"), str(photos / "second.jpg")]
    assert all(line["face_count"] == 2 and line["status"] == "SUCCESS" for line in lines)
    assert "[2/2]" in run.stderr  # not a terminal: one progress line per file


def test_blur_writes_every_image_and_exits_non_zero_when_one_fails(stack: Stack, photos: Path, tmp_path: Path) -> None:
    (photos / "notes.txt").write_text("not a photo")
    out = tmp_path / "out"

    run = faceblur("blur", photos, photos / "notes.txt", tmp_path / "missing.jpg", "-o", out, url=stack.gateway.url)

    assert run.returncode == 1
    assert sorted(p.name for p in out.iterdir()) == ["first.jpg", "second.jpg"]
    assert all(json.loads(line)["output"].startswith(str(out)) for line in run.stdout.splitlines())
    assert "notes.txt: HTTP 415" in run.stderr
    assert "missing.jpg: no such file" in run.stderr
    assert "2 of 4 images failed" in run.stderr


def test_an_unreachable_gateway_fails_fast_with_a_clear_message(photos: Path) -> None:
    run = faceblur("detect", photos, url=f"http://127.0.0.1:{free_port()}")

    assert run.returncode == 1
    assert "cannot reach the FaceBlur gateway" in run.stderr
    assert run.stdout == ""


def oldest_python() -> str | None:
    """A Python 3.10 (the oldest the README promises the scripts run on) installed here, if any."""
    candidates = [
        shutil.which("python3.10"),
        *sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.10*/bin/python3.10"))),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"], capture_output=True, timeout=30
        )
        if probe.returncode == 0:  # (a pyenv shim without 3.10 selected answers, and fails)
            return candidate
    return None


@pytest.mark.parametrize("interpreter", ["plain", "3.10"])
@pytest.mark.parametrize("script", ["test_detection.py", "test_blurring.py"])
def test_top_level_scripts_run_on_a_plain_python(stack: Stack, script: str, interpreter: str, tmp_path: Path) -> None:
    """The scripts need nothing but the standard library and the checkout (no virtualenv), from Python 3.10 on."""
    if interpreter == "plain":
        python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
    else:
        python = oldest_python() or pytest.skip("no Python 3.10 on this machine")
    run = subprocess.run(
        [python, str(REPO_ROOT / script), str(REFERENCE_IMAGE), "--url", stack.gateway.url],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert "2 face(s)" in run.stdout


def test_a_batch_goes_in_one_request_and_a_bad_file_fails_alone(stack: Stack, photos: Path) -> None:
    (photos / "notes.jpg").write_text("not an image")
    run = faceblur("detect", photos, "--batch-size", "32", url=stack.gateway.url)

    assert run.returncode == 1
    succeeded = {Path(json.loads(line)["file"]).name for line in run.stdout.splitlines()}
    assert succeeded == {"first.jpg", "second.jpg"}
    assert "notes.jpg" in run.stderr and "1 of 3 images failed" in run.stderr
