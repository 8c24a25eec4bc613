"""Crashes during a video task: a face service or a gateway killed with -9, Redis restarted, a full disk. The task
still ends SUCCESS (resumed from the segments already done) or FAILURE with the reason; nothing is lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import (
    assert_whole_video,
    metrics,
    part_done,
    start_video,
    wait_for,
    wait_for_state,
    wait_until,
)
from tests.stack import FaceService, Stack
from tests.videos import write_clip

pytestmark = pytest.mark.timeout(400)

# Several segments, so a crash lands between some that are done and some that are not.
SEGMENTS_ENV = {"GATEWAY_VIDEO_SEGMENT_SECONDS": "0.5"}
FRAMES = 100  # the clip's: 4 s at 25 fps


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=4.0, size=(480, 270), gop=10)


def start_under_way(api: httpx.Client, clip: Path) -> str:
    """A video task, once some of its segments are done and some are not."""
    task_id = start_video(api, clip)
    wait_for_state(api, task_id, part_done, "got under way", timeout=120)
    return task_id


@pytest.mark.parametrize(
    ("service", "how", "least_attempts"),
    [
        ("face", "kill", 2),  # kill -9: the attempt under way is lost
        ("gateway", "kill", 2),
        ("redis", "stop", 1),  # a restart of Redis need not cost the attempt under way
    ],
)
def test_a_video_survives_a_restart(
    make_stack: Callable[..., Stack], clip: Path, tmp_path: Path, service: str, how: str, least_attempts: int
) -> None:
    stack = make_stack(**SEGMENTS_ENV)
    restarted = getattr(stack, service)
    with stack.gateway.client() as api:
        task_id = start_under_way(api, clip)
        getattr(restarted, how)()
    restarted.start()
    with stack.gateway.client() as api:
        body = wait_for(api, task_id, timeout=300)
        assert_whole_video(api, body, tmp_path / "out.mp4", FRAMES)
        assert body["attempts"] >= least_attempts


def test_a_video_resumed_on_fewer_workers_keeps_the_segments_it_began_with(
    make_stack: Callable[..., Stack], clip: Path, tmp_path: Path
) -> None:
    """The work saved before the crash is named by segment number; a plan made again for the new worker count would
    read those files as other frames."""
    stack = make_stack(**SEGMENTS_ENV)
    stack.face.stop()
    (stack.work_dir / "three").mkdir()
    three = FaceService(stack.work_dir / "three", port=stack.face.port, FACE_WORKERS="3", **stack.face_media_env)
    three.start()
    (stack.work_dir / "one").mkdir()
    one = FaceService(stack.work_dir / "one", port=stack.face.port, FACE_WORKERS="1", **stack.face_media_env)
    try:
        wait_until(
            lambda: metrics(f"{stack.gateway.url}/metrics").get("faceblur_gateway_face_workers") == 3,
            30,
            "the gateway sees the 3 workers",
        )
        with stack.gateway.client() as api:
            task_id = start_under_way(api, clip)
            three.kill()
            one.start()
            body = wait_for(api, task_id, timeout=300)
            assert_whole_video(api, body, tmp_path / "out.mp4", FRAMES)
            faces = [json.loads(line)["faces"] for line in api.get(body["result"]["faces_url"]).text.splitlines()]
        detected = [frame for frame, found in enumerate(faces) if any(face["detected"] for face in found)]
        gaps = [after - before for before, after in zip([-1, *detected], [*detected, FRAMES], strict=True)]
        assert max(gaps) <= 12, f"faces detected on frames {detected} only, of 100"
        assert body["attempts"] >= 2 and body["result"]["segments"] == 6
    finally:
        three.stop()
        one.stop()


def test_a_full_disk_fails_the_task_and_leaves_no_video(make_stack: Callable[..., Stack], tmp_path: Path) -> None:
    """The face service may write no file past 256 KiB (RLIMIT_FSIZE), as a full disk would refuse the write. The
    output is lossless (crf 0), so every segment is far larger than that, however much of the frame is blurred.
    On a directory store the full disk is the media volume's; on S3 it is the face service's FACE_SCRATCH_DIR, where
    a segment is written before it is stored (the input is read from the bucket, never written to disk)."""
    large = write_clip(tmp_path / "large.mp4", seconds=2.0, size=(1280, 720))
    stack = make_stack()
    stack.face.stop()
    (stack.work_dir / "limited").mkdir()
    limited = FaceService(stack.work_dir / "limited", port=stack.face.port, **stack.face_media_env)
    limited.service = replace(limited.service, command=["prlimit", "--fsize=262144", "--", *limited.service.command])
    limited.start()
    try:
        with stack.gateway.client() as api:
            body = wait_for(api, start_video(api, large, crf="0"), timeout=300)
        assert body["status"] == "FAILURE"
        assert "writing the video segment failed" in body["error"]
        if stack.s3 is not None:  # the file refused is the segment's, in the scratch directory
            assert str(stack.face_scratch) in body["error"], body["error"]
        # The flow deletes the task's files once the dispatcher has written FAILURE, a moment after the answer.
        directory = stack.media_dir / "tasks" / body["task_id"]
        wait_until(lambda: stack.task_files(body["task_id"]) == [] and not directory.exists(), 10, "files deleted")
        assert not stack.face_scratch.exists() or not any(stack.face_scratch.iterdir()), "no partial segment left"
    finally:
        limited.stop()
