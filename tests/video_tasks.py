"""Client-side helpers for video tasks over the gateway's HTTP API, shared by the test suites that run a gateway:
upload a clip, and see whether its task is under way."""

from __future__ import annotations

from pathlib import Path

import httpx


def post_video(api: httpx.Client, clip: Path, content_type: str = "video/mp4") -> str:
    """POST the clip to /blur_video; returns the task id (and checks the answer was 202 Accepted)."""
    answer = api.post("/blur_video", files={"file": (clip.name, clip.read_bytes(), content_type)})
    assert answer.status_code == 202, answer.text
    return answer.json()["task_id"]


def under_way(api: httpx.Client, task_id: str) -> bool:
    """The video task is RUNNING with some but not all of its frames done (it must not have ended yet)."""
    body = api.get(f"/task_result/{task_id}").json()
    progress = body.get("progress") or {}
    assert body["status"] in ("PENDING", "RUNNING"), body
    return body["status"] == "RUNNING" and 0 < progress.get("frames_done", 0) < progress.get("frames_total", 0)
