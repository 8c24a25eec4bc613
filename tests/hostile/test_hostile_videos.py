"""Hostile videos through the real stack: each gets a clear 4xx at upload or a FAILURE naming the problem, limits
name their settings, a header that lies does not matter, and the services keep serving afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import reference_jpeg, submit, wait_for
from tests.stack import Gateway, Stack
from tests.videos import write_clip

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=1.0, size=(320, 180)).read_bytes()


@pytest.fixture(scope="module")
def mkv_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("clips") / "clip.mkv"
    return write_clip(path, seconds=1.0, size=(320, 180), container="matroska").read_bytes()


def upload(api: httpx.Client, data: bytes, name: str = "clip.mp4", **fields: object) -> httpx.Response:
    return api.post(
        "/blur_video", files={"file": (name, data, "video/mp4")}, data={k: str(v) for k, v in fields.items()}
    )


def assert_refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    for word in words:
        assert word.lower() in detail.lower(), f"{detail!r} should mention {word!r}"


def assert_still_serving(api: httpx.Client, clip: bytes) -> None:
    assert wait_for(api, submit(api, "detect_faces", reference_jpeg()))["status"] == "SUCCESS"
    response = upload(api, clip)
    assert response.status_code == 202, response.text
    assert wait_for(api, response.json()["task_id"], timeout=120)["status"] == "SUCCESS"


def test_a_photo_is_not_a_video(api: httpx.Client) -> None:
    assert_refused(upload(api, reference_jpeg(), "photo.mp4"), 400, "video")


def test_text_is_not_a_video(api: httpx.Client) -> None:
    assert_refused(upload(api, b"just some words, no frames at all\n" * 20, "notes.mp4"), 400)


def test_an_empty_file_is_refused(api: httpx.Client) -> None:
    assert_refused(upload(api, b""), 400, "empty")


def test_a_missing_file_field_is_named(api: httpx.Client) -> None:
    assert_refused(api.post("/blur_video", data={"mode": "blur"}), 400, "file")


def test_a_truncated_video_is_refused_or_fails_with_the_reason(api: httpx.Client, clip: bytes) -> None:
    response = upload(api, clip[: len(clip) // 2])
    if response.status_code == 202:
        body = wait_for(api, response.json()["task_id"], timeout=120)
        assert body["status"] in ("SUCCESS", "FAILURE")
        if body["status"] == "FAILURE":
            assert body["error"]
    else:
        assert_refused(response, 400)


def test_an_audio_only_file_has_no_video_stream(api: httpx.Client, tmp_path: Path) -> None:
    import av
    import numpy as np

    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w", format="mp4") as output:
        stream = output.add_stream("aac", rate=44100)
        for start in range(0, 44100, 1024):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, start
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    assert_refused(upload(api, path.read_bytes(), "tone.m4a"), 400, "video stream")


def test_an_unknown_codec_is_named(api: httpx.Client, mkv_clip: bytes) -> None:
    unknown = mkv_clip.replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/XYZ", 1)
    assert unknown != mkv_clip
    response = upload(api, unknown, "clip.mkv")
    assert response.status_code in (400, 415), response.text
    assert "codec" in response.json()["detail"].lower()


def test_a_header_that_lies_about_the_duration_does_not_matter(api: httpx.Client, clip: bytes) -> None:
    """The MP4 says it lasts 10 hours (over the 30-minute limit); its packets say 1 s, and they are counted."""
    lying = _with_mvhd_duration(clip, seconds=36000)
    response = upload(api, lying)
    assert response.status_code == 202, response.text
    body = wait_for(api, response.json()["task_id"], timeout=120)
    assert body["status"] == "SUCCESS", body.get("error")
    assert body["result"]["frames"] == 25
    assert body["result"]["duration_s"] == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("setting", "value", "status"),
    [
        ("GATEWAY_VIDEO_MAX_BYTES", "20000", 413),
        ("GATEWAY_VIDEO_MAX_DURATION_SECONDS", "0.5", 413),
        ("GATEWAY_VIDEO_MAX_RESOLUTION", "160x90", 413),
        ("GATEWAY_VIDEO_MAX_FRAMES", "10", 413),
    ],
)
def test_each_limit_names_its_setting(
    stack: Stack, make_gateway: Callable[..., Gateway], clip: bytes, setting: str, value: str, status: int
) -> None:
    gateway = make_gateway(
        stack.redis.url, [stack.face.address], GATEWAY_MEDIA_DIR=str(stack.media_dir), **{setting: value}
    )
    with gateway.client() as api:
        assert_refused(upload(api, clip), status, setting)


def test_the_services_keep_serving_after_hostile_videos(api: httpx.Client, clip: bytes) -> None:
    for data in (b"", reference_jpeg(), clip[:1000], clip.replace(b"mvhd", b"xxxx", 1)):
        upload(api, data)
    assert_still_serving(api, clip)


def _with_mvhd_duration(mp4: bytes, seconds: int) -> bytes:
    """The MP4 with its movie header's duration replaced (version 0 mvhd: timescale and duration are 32-bit)."""
    at = mp4.index(b"mvhd") + 4
    assert mp4[at] == 0, "a version 0 mvhd"
    timescale = int.from_bytes(mp4[at + 12 : at + 16], "big")
    duration = (seconds * timescale).to_bytes(4, "big")
    return mp4[: at + 16] + duration + mp4[at + 20 :]
