"""Videos with the media in an S3 bucket (a real SeaweedFS, tests/s3.py): GATEWAY_MEDIA_URL = FACE_MEDIA_URL =
s3://faceblur-media/faceblur, the gateway and the face service each with a scratch directory of its own and no
directory shared. The whole flow, the image flows beside it, downloads (Range, HEAD, redirect), the sweep, and the
store down at upload, at a task's start and in the middle of a video."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from faceblur_proto.media import TaskMedia
from gateway_service.tasks.keys import RedisKeys
from gateway_service.video.storage import VideoMedia
from tests.conftest import TEST_GATEWAY_ENV
from tests.gateway.helpers import (
    assert_head_answers_as_get_does,
    assert_whole_video,
    download_video,
    part_done,
    reference_jpeg,
    start_video,
    submit,
    wait_for,
    wait_for_state,
)
from tests.stack import Gateway, Stack
from tests.videos import decoded_frames, write_clip

pytestmark = pytest.mark.timeout(400)

# Several segments per video, so there are work files to see and a store failure lands mid-video.
S3_ENV = TEST_GATEWAY_ENV | {"GATEWAY_VIDEO_SEGMENT_MAX_FRAMES": "10"}
STORE = "media store s3://faceblur-media/faceblur"  # how every error about the store names it


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "long.mp4", seconds=8.0, fps=25, size=(480, 270), gop=10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """This module's stack (the ``api`` fixture's): Redis, SeaweedFS, a face service and a gateway, the media in the
    bucket. Its own Redis: no other gateway's dispatcher takes its tasks."""
    running = Stack(tmp_path_factory.mktemp("s3-stack"), media="s3", **S3_ENV).start()
    yield running
    running.stop()


def files_in(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


@pytest.fixture(scope="module")
def video_task(stack: Stack, clip: Path) -> dict:
    """One video task through the bucket, watched: every object the task had in the bucket while it ran."""
    store = stack.media_store()
    with stack.gateway.client() as api:
        task_id = start_video(api, clip)
        directory = TaskMedia(task_id).directory
        seen: set[str] = set()
        deadline = time.monotonic() + 240
        while (body := api.get(f"/task_result/{task_id}").json())["status"] not in ("SUCCESS", "FAILURE"):
            seen |= {stored.key.removeprefix(directory + "/") for stored in store.list_under(directory)}
            assert time.monotonic() < deadline, body
        return body | {"seen": seen}


def test_a_video_goes_through_the_bucket_and_leaves_no_file_in_either_scratch_directory(
    stack: Stack, api: httpx.Client, video_task: dict, tmp_path: Path
) -> None:
    assert video_task["status"] == "SUCCESS", video_task
    seen = video_task["seen"]
    assert {"input.mp4", "probe.json", "work/plan.json"} <= seen, seen
    assert any(name.startswith("work/detect-") for name in seen) and any(
        name.startswith("work/segment-") for name in seen
    ), seen
    # Once it ended: its results, in the bucket only.
    assert stack.task_files(video_task["task_id"]) == ["faces.jsonl", "video.mp4"]
    assert not stack.media_dir.exists(), "nothing was written to a shared directory"
    # Each service worked in its own scratch directory, and left nothing there.
    assert stack.gateway_scratch.is_dir() and stack.face_scratch.is_dir()
    assert files_in(stack.gateway_scratch) == [] and files_in(stack.face_scratch) == []
    assert len(decoded_frames(download_video(api, video_task, tmp_path / "out.mp4"))) == 50
    assert video_task["result"]["segments"] == 5


def test_image_tasks_never_touch_the_bucket(stack: Stack, api: httpx.Client) -> None:
    store = stack.media_store()
    before = store.list_under()
    tasks = [submit(api, "detect_faces", reference_jpeg()), submit(api, "blur_faces", reference_jpeg())]
    assert [wait_for(api, task_id)["status"] for task_id in tasks] == ["SUCCESS", "SUCCESS"]
    assert store.list_under() == before


def test_downloads_from_the_bucket_keep_ranges_and_head(api: httpx.Client, video_task: dict) -> None:
    url, faces_url = video_task["result"]["video_url"], video_task["result"]["faces_url"]
    whole = api.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["content-length"] == str(len(whole.content)) == str(video_task["result"]["size_bytes"])
    ranged = api.get(url, headers={"Range": "bytes=100-199"})
    assert (ranged.status_code, ranged.content) == (206, whole.content[100:200])
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    last = api.get(url, headers={"Range": "bytes=-100"})
    assert (last.status_code, last.content) == (206, whole.content[-100:])
    two = api.get(url, headers={"Range": "bytes=0-9,1000-1009"})
    assert two.status_code == 206 and two.headers["content-type"].startswith("multipart/byteranges")
    assert whole.content[:10] in two.content and whole.content[1000:1010] in two.content
    for bad in ("bytes=abc", f"bytes={len(whole.content)}-"):
        refused = api.get(url, headers={"Range": bad})
        assert refused.status_code == 416 and "detail" in refused.json()
        assert refused.headers["content-range"] == f"bytes */{len(whole.content)}"
    other_unit = api.get(url, headers={"Range": "items=0-9"})
    assert (other_unit.status_code, other_unit.content) == (200, whole.content)
    for each in (url, faces_url):
        assert_head_answers_as_get_does(api, each)
    assert api.head("/task_result/no-such-task/video").status_code == 404


def test_with_redirects_get_answers_a_presigned_url_of_the_bucket_and_head_the_gateway(
    stack: Stack, make_stack_gateway: Callable[..., Gateway], api: httpx.Client, video_task: dict
) -> None:
    redirecting = make_stack_gateway(GATEWAY_MEDIA_REDIRECT="true", GATEWAY_RUN_DISPATCHER="false")
    assert stack.s3 is not None
    url, faces_url = video_task["result"]["video_url"], video_task["result"]["faces_url"]
    whole = api.get(url).content
    with redirecting.client() as other:
        answer = other.get(url)
        assert answer.status_code == 307, answer.text
        location = answer.headers["location"]
        assert location.startswith(f"{stack.s3.endpoint}/faceblur-media/faceblur/tasks/{video_task['task_id']}/")
        assert "X-Amz-Signature=" in location
        from_store = httpx.get(location, headers={"Range": "bytes=100-199"})
        assert (from_store.status_code, from_store.content) == (206, whole[100:200])
        assert from_store.headers["content-type"] == "video/mp4"
        assert f'filename="{video_task["task_id"]}.mp4"' in from_store.headers["content-disposition"]
        assert httpx.get(location).content == whole
        faces = other.get(faces_url)
        assert faces.status_code == 307 and httpx.get(faces.headers["location"]).content == api.get(faces_url).content
        head = other.head(url)  # answered by the gateway, from the object's size
        assert (head.status_code, head.headers["content-length"]) == (200, str(len(whole)))
        refused = other.get(url, headers={"Range": "bytes=abc"})  # checked before any redirect
        assert refused.status_code == 416 and "detail" in refused.json()


def test_the_sweep_deletes_every_object_of_an_expired_task(stack: Stack, video_task: dict, tmp_path: Path) -> None:
    task_id = video_task["task_id"]
    assert stack.task_files(task_id) == ["faces.jsonl", "video.mp4"]
    keys = RedisKeys("faceblur")
    with stack.redis.client() as redis:
        redis.delete(keys.task(task_id))  # what the record's TTL does (GATEWAY_TASK_TTL_SECONDS)

        async def task_exists(candidate: str) -> bool:
            return bool(redis.exists(keys.task(candidate)))

        media = VideoMedia(stack.media_store(), tmp_path)
        assert asyncio.run(media.sweep_expired(task_exists)) == 0, "within the grace time, nothing goes"
        assert asyncio.run(media.sweep_expired(task_exists, grace_seconds=0)) == 1
    assert stack.task_files(task_id) == []


# --- the store down ---------------------------------------------------------------------------------------------


def waiting_for_the_store(body: dict) -> bool:
    """PENDING, waiting for the store (its retry_reason names it)."""
    return body["status"] == "PENDING" and STORE in (body.get("retry_reason") or "")


def test_the_store_down_at_upload_at_the_start_of_a_task_and_in_the_middle_of_a_video(
    make_stack: Callable[..., Stack], clip: Path, long_clip: Path, tmp_path: Path
) -> None:
    stack = make_stack(media="s3", **S3_ENV)
    assert stack.s3 is not None
    with stack.gateway.client() as api:
        done = start_video(api, clip)
        assert wait_for(api, done, timeout=240)["status"] == "SUCCESS"

        # Down: a video upload is a 503 naming the store, and so is a download; images go on.
        stack.s3.kill()
        refused = api.post("/blur_video", files={"file": (clip.name, clip.read_bytes(), "video/mp4")})
        assert refused.status_code == 503, refused.text
        assert STORE in refused.json()["detail"] and stack.s3.endpoint in refused.json()["detail"]
        assert api.get(f"/task_result/{done}/video").status_code == 503
        ready = api.get("/readyz")  # still ready (images need no store), the store's problem named
        assert ready.status_code == 200 and STORE in ready.json()["media_store"], ready.text
        assert wait_for(api, submit(api, "blur_faces", reference_jpeg()))["status"] == "SUCCESS"
        stack.s3.start()

        # Down when a task starts (accepted while the store was up, its face service back once it is down): the task
        # waits, PENDING with the store's problem, and runs once the store is back.
        stack.face.stop()
        waiting = start_video(api, clip)
        stack.s3.kill()
        stack.face.start()
        wait_for_state(api, waiting, waiting_for_the_store, "waited for the store")
        time.sleep(2)
        assert api.get(f"/task_result/{waiting}").json()["status"] == "PENDING"
        stack.s3.start()
        assert_whole_video(api, wait_for(api, waiting, timeout=240), tmp_path / "waited.mp4", 50)

        # Killed in the middle of a video, restarted: the attempt is lost, the task waits for the store and
        # resumes from the segments already stored.
        task_id = start_video(api, long_clip)
        wait_for_state(api, task_id, part_done, "got under way", timeout=120)
        stack.s3.kill()
        wait_for_state(api, task_id, waiting_for_the_store, "waited for the store")
        stack.s3.start()
        assert_whole_video(api, wait_for(api, task_id, timeout=300), tmp_path / "resumed.mp4", 200)
        assert stack.task_files(task_id) == ["faces.jsonl", "video.mp4"]
    assert files_in(stack.gateway_scratch) == [] and files_in(stack.face_scratch) == []


def test_a_store_that_stays_down_fails_the_task_naming_it_and_the_sweep_clears_it_later(
    make_stack: Callable[..., Stack], clip: Path, tmp_path: Path
) -> None:
    stack = make_stack(media="s3", GATEWAY_MEDIA_WAIT_SECONDS="3", **S3_ENV)
    assert stack.s3 is not None
    with stack.gateway.client() as api:
        stack.face.stop()
        task_id = start_video(api, clip)
        stack.s3.kill()
        stack.face.start()
        body = wait_for(api, task_id, timeout=120)
    assert body["status"] == "FAILURE"
    assert "the media store did not answer for 3 s (GATEWAY_MEDIA_WAIT_SECONDS)" in body["error"]
    assert STORE in body["error"]
    stack.s3.start()
    # Its clean-up could not reach the store: the input stays until the record expires, then the sweep takes it.
    assert stack.task_files(task_id) == ["input.mp4", "probe.json"]
    with stack.redis.client() as redis:
        redis.delete(RedisKeys("faceblur").task(task_id))

        async def task_exists(candidate: str) -> bool:
            return bool(redis.exists(RedisKeys("faceblur").task(candidate)))

        asyncio.run(VideoMedia(stack.media_store(), tmp_path).sweep_expired(task_exists, grace_seconds=0))
    assert stack.task_files(task_id) == []
