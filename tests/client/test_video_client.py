"""FaceBlurClient.blur_video and `faceblur blur` with videos, against a live stack: upload, progress in frames,
the MP4 downloaded, the per-frame face tracks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import pytest

from faceblur_client import ApiError, FaceBlurClient
from faceblur_client.cli import is_video
from tests.client.test_cli import faceblur
from tests.stack import REFERENCE_IMAGE, Stack
from tests.videos import write_clip

FRAMES = 25  # write_clip's 1 s at 25 fps
SIZE = (320, 180)


@pytest.fixture(scope="module")
def client(stack: Stack) -> FaceBlurClient:
    return FaceBlurClient(stack.gateway.url, timeout=300)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=1, size=SIZE)


def _video_stream(path: Path) -> tuple[int, int, int, bool]:
    """(frames, width, height, has audio) of an MP4."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, stream.codec_context.width, stream.codec_context.height, bool(container.streams.audio)


def test_blur_video_reports_progress_and_downloads_the_mp4(client: FaceBlurClient, clip: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []

    outcome = client.blur_video(
        clip, tmp_path / "out.mp4", mode="pixelate", crf=30, progress=lambda done, total: seen.append((done, total))
    )

    assert outcome.kind == "blur_video" and outcome.path == tmp_path / "out.mp4"
    assert _video_stream(outcome.path) == (FRAMES, *SIZE, True)
    result = outcome.result
    assert result["frames"] == FRAMES and (result["width"], result["height"]) == SIZE
    assert result["audio"] is True and result["tracks"] >= 1
    assert result["size_bytes"] == outcome.path.stat().st_size
    assert result["video_url"] == f"/task_result/{outcome.task_id}/video"
    assert seen and seen[-1] == (FRAMES, FRAMES)
    assert all(total == FRAMES for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # never goes back
    assert outcome.task["options"]["mode"] == "pixelate"

    frames = client.video_faces(outcome.task_id)
    assert [entry["frame"] for entry in frames] == list(range(FRAMES))
    assert any(entry["faces"] for entry in frames)
    face = next(face for entry in frames for face in entry["faces"])
    assert set(face) >= {"track_id", "facial_area", "confidence", "detected"}


def test_blur_video_from_bytes_keeps_the_mp4_in_memory(client: FaceBlurClient, clip: Path, tmp_path: Path) -> None:
    outcome = client.blur_video(clip.read_bytes(), filename="clip.mp4", mask="box")

    assert outcome.path is None and outcome.video is not None and outcome.video[4:8] == b"ftyp"
    saved = outcome.save(tmp_path / "saved.mp4")
    assert _video_stream(saved)[0] == FRAMES


def test_a_file_that_is_not_a_video_is_refused_with_the_reason(client: FaceBlurClient) -> None:
    with pytest.raises(ApiError) as refused:
        client.submit_video(b"not a video at all\n" * 100, filename="notes.mp4")

    assert refused.value.status in (400, 415) and refused.value.detail


def test_an_out_of_range_crf_names_the_setting(client: FaceBlurClient, clip: Path) -> None:
    with pytest.raises(ApiError) as refused:
        client.submit_video(clip, crf=99)

    assert refused.value.status in (400, 422) and "crf" in refused.value.detail


def test_videos_are_recognized_by_name_or_by_their_first_bytes(clip: Path, tmp_path: Path) -> None:
    unnamed = shutil.copy(clip, tmp_path / "recording")
    (tmp_path / "notes.mp4").write_text("not a video")

    assert is_video(clip) and is_video(Path(unnamed))
    assert not is_video(REFERENCE_IMAGE)
    assert not is_video(tmp_path / "missing")


def test_cli_blur_writes_videos_as_mp4_beside_the_images_with_a_progress_bar(
    stack: Stack, clip: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(REFERENCE_IMAGE, inputs / "photo.jpg")
    shutil.copy(clip, inputs / "holiday")  # no extension: a video by its first bytes
    out = tmp_path / "out"

    run = faceblur("blur", inputs / "photo.jpg", inputs / "holiday", clip, "-o", out, url=stack.gateway.url)

    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "holiday.mp4", "photo.jpg"]
    assert _video_stream(out / "holiday.mp4")[0] == FRAMES
    lines = {Path(line["file"]).name: line for line in map(json.loads, run.stdout.splitlines())}
    assert set(lines) == {"photo.jpg", "holiday", "clip.mp4"}
    assert lines["holiday"]["kind"] == "blur_video" and lines["holiday"]["output"] == str(out / "holiday.mp4")
    assert f"{FRAMES}/{FRAMES} frames" in run.stderr
    assert "face track" in run.stderr
