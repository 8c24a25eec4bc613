"""Videos through the real stack: POST /blur_video, its result, the MP4 (with Range) and the face tracks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import httpx
import numpy as np
import pytest

from tests.gateway.helpers import (
    assert_head_answers_as_get_does,
    blur_video,
    download_video,
    reference_jpeg,
    submit,
    wait_for,
)
from tests.stack import Stack
from tests.videos import decoded_frames, packets, write_clip, write_resizing_clip

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def finished(stack: Stack, clip: Path) -> dict:
    """One video task, run once for the tests of its outcome."""
    with stack.gateway.client() as api:
        return blur_video(api, clip)


def test_a_video_task_ends_with_the_video_described(finished: dict) -> None:
    assert finished["status"] == "SUCCESS", finished
    result = finished["result"]
    task_id = finished["task_id"]
    assert result["video_url"] == f"/task_result/{task_id}/video"
    assert result["faces_url"] == f"/task_result/{task_id}/faces"
    assert (result["frames"], result["width"], result["height"], result["audio"]) == (50, 480, 270, True)
    assert result["fps"] == pytest.approx(25)
    assert result["duration_s"] == pytest.approx(2.0, abs=0.1)
    assert result["tracks"] >= 1


def test_the_output_keeps_frames_rate_duration_size_and_the_audio_packets(
    api: httpx.Client, finished: dict, clip: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.mp4"
    response = api.get(finished["result"]["video_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    output.write_bytes(response.content)
    with av.open(str(output)) as video, av.open(str(clip)) as original:
        stream, source = video.streams.video[0], original.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (source.width, source.height)
        assert stream.average_rate == source.average_rate
        assert float(video.duration / av.time_base) == pytest.approx(float(original.duration / av.time_base), abs=0.1)
    assert abs(len(decoded_frames(output)) - len(decoded_frames(clip))) <= 1
    assert packets(output, "audio") == packets(clip, "audio")


def test_every_frame_has_its_faces_hidden(api: httpx.Client, finished: dict, clip: Path, tmp_path: Path) -> None:
    output = download_video(api, finished, tmp_path / "out.mp4")
    tracks = [json.loads(line) for line in api.get(finished["result"]["faces_url"]).text.splitlines()]
    before, after = decoded_frames(clip), decoded_frames(output)
    for frame, (original, hidden) in enumerate(zip(before, after, strict=True)):
        assert tracks[frame]["faces"], f"frame {frame} has no face"
        for face in tracks[frame]["faces"]:
            x1, y1, x2, y2 = _inner(face["facial_area"], original.shape)
            assert _detail(hidden[y1:y2, x1:x2]) < 0.2 * _detail(original[y1:y2, x1:x2]), f"frame {frame}"


def test_the_face_tracks_are_one_json_line_per_frame(api: httpx.Client, finished: dict) -> None:
    response = api.get(finished["result"]["faces_url"])
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["frame"] for line in lines] == list(range(50))
    assert lines[25]["time_s"] == pytest.approx(1.0)
    face = lines[0]["faces"][0]
    assert set(face) >= {"track_id", "facial_area", "confidence", "detected"}
    assert any(face["detected"] for line in lines for face in line["faces"])
    assert any(not face["detected"] for line in lines for face in line["faces"]), "detect_every > 1 carries faces"


def test_players_can_seek_with_http_ranges(api: httpx.Client, finished: dict) -> None:
    whole = api.get(finished["result"]["video_url"]).content
    response = api.get(finished["result"]["video_url"], headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    assert response.content == whole[100:200]


def test_a_malformed_byte_range_is_a_416_with_a_detail_like_every_other_error(
    api: httpx.Client, finished: dict
) -> None:
    for url in (finished["result"]["video_url"], finished["result"]["faces_url"]):
        size = len(api.get(url).content)
        for malformed in ("bytes", "bytes=abc", "bytes=", "bytes=9-3", "bytes=0-9,x-y", f"bytes={size}-", "bytes=-0"):
            response = api.get(url, headers={"Range": malformed})
            assert response.status_code == 416, (url, malformed, response.text)
            assert response.json()["detail"], (url, malformed)
            assert response.headers["content-range"] == f"bytes */{size}"


def test_a_range_in_a_unit_other_than_bytes_is_ignored(api: httpx.Client, finished: dict) -> None:
    """RFC 9110 14.2: a server ignores a Range in a unit it does not know, and sends the whole file."""
    for url in (finished["result"]["video_url"], finished["result"]["faces_url"]):
        whole = api.get(url).content
        for other_unit in ("items=0-9", "none"):
            response = api.get(url, headers={"Range": other_unit})
            assert response.status_code == 200, (url, other_unit, response.text)
            assert response.content == whole
        last = api.get(url, headers={"Range": "bytes=-100"})
        assert (last.status_code, last.content) == (206, whole[-100:]), "byte ranges still work"


def test_head_answers_the_headers_of_the_file_without_its_body(api: httpx.Client, finished: dict) -> None:
    for url in (finished["result"]["video_url"], finished["result"]["faces_url"]):
        assert_head_answers_as_get_does(api, url)
    assert api.head("/task_result/no-such-task/video").status_code == 404


def test_only_the_results_stay_in_the_media_directory(stack: Stack, finished: dict) -> None:
    assert stack.task_files(finished["task_id"]) == ["faces.jsonl", "video.mp4"]  # in the directory or the bucket
    if stack.media == "file":
        directory = stack.media_dir / "tasks" / finished["task_id"]
        assert sorted(path.name for path in directory.iterdir()) == ["faces.jsonl", "video.mp4"]


def test_a_video_whose_resolution_changes_mid_stream_comes_out_whole_at_its_first_size(
    api: httpx.Client, tmp_path: Path
) -> None:
    clip = write_resizing_clip(tmp_path / "resizing.ts", [(480, 270), (640, 360)])
    finished = blur_video(api, clip, content_type="video/mp2t")

    assert finished["status"] == "SUCCESS", finished
    assert (finished["result"]["frames"], finished["result"]["width"], finished["result"]["height"]) == (50, 480, 270)
    output = download_video(api, finished, tmp_path / "out.mp4")
    assert [frame.shape for frame in decoded_frames(output)] == [(270, 480, 3)] * 50
    tracks = [json.loads(line) for line in api.get(finished["result"]["faces_url"]).text.splitlines()]
    after_the_change = [face["facial_area"] for line in tracks[25:] for face in line["faces"]]
    assert after_the_change and all(0 <= x1 < x2 <= 480 and 0 <= y1 < y2 <= 270 for x1, y1, x2, y2 in after_the_change)


def test_faces_that_pan_in_and_out_are_listed_only_where_they_are_in_the_frame(
    api: httpx.Client, tmp_path: Path
) -> None:
    """A window narrower than the photo: one face leaves on the left, the other comes in from the right. The
    tracker carries them past the edges (so the blur misses no frame of them); the faces file lists what is in
    the frame: boxes clipped to it, none wholly outside it."""
    clip = write_clip(tmp_path / "pan.mp4", seconds=2.0, fps=25, size=(240, 270), audio=False)
    finished = blur_video(api, clip)
    assert finished["status"] == "SUCCESS", finished

    lines = [json.loads(line) for line in api.get(finished["result"]["faces_url"]).text.splitlines()]
    boxes = [face["facial_area"] for line in lines for face in line["faces"]]
    outside = [box for box in boxes if not (0 <= box[0] < box[2] <= 240 and 0 <= box[1] < box[3] <= 270)]
    assert not outside, outside
    assert any(box[0] == 0 for box in boxes) and any(box[2] == 240 for box in boxes), "faces cross both edges"


def test_a_long_video_is_cut_into_segments_of_at_most_the_longest_segment(
    make_stack: Callable[..., Stack], clip: Path, tmp_path: Path
) -> None:
    """So that every job of a long video ends within GATEWAY_VIDEO_SEGMENT_TIMEOUT_SECONDS, however few workers."""
    stack = make_stack(GATEWAY_VIDEO_SEGMENT_MAX_FRAMES="5")
    with stack.gateway.client() as api:
        finished = blur_video(api, clip)
        assert finished["status"] == "SUCCESS", finished
        assert finished["result"]["segments"] >= 10  # 50 frames, none of the segments over 5
        output = download_video(api, finished, tmp_path / "out.mp4")
    assert len(decoded_frames(output)) == len(decoded_frames(clip)) == 50


def test_an_image_task_has_no_video(api: httpx.Client) -> None:
    task_id = submit(api, "detect_faces", reference_jpeg())
    wait_for(api, task_id)
    response = api.get(f"/task_result/{task_id}/video")
    assert response.status_code == 404
    assert "not a video" in response.json()["detail"]


def test_an_unknown_task_has_no_video(api: httpx.Client) -> None:
    assert api.get("/task_result/no-such-task/video").status_code == 404


def _inner(box: list[int], shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The middle half of a face box (inside the hidden ellipse), clipped to the frame."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) // 4, (y2 - y1) // 4
    height, width = shape[:2]
    return max(0, x1 + dx), max(0, y1 + dy), min(width, x2 - dx), min(height, y2 - dy)


def _detail(region: np.ndarray) -> float:
    """High-frequency energy: the variance of the Laplacian of the grey image."""
    grey = cv2.cvtColor(region, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
