"""Housekeeping of the media directory: what a video task leaves behind when it ends, and when it expires.

A task's input and work files go when the task ends (SUCCESS or FAILURE); its results (video.mp4, faces.jsonl)
stay while its record does (GATEWAY_TASK_TTL_SECONDS) and are swept once Redis has forgotten the task.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from faceblur_proto.media import TASKS_DIR, TaskMedia

log = logging.getLogger(__name__)

# A task directory younger than this is never swept: its upload may still be arriving (the record is written
# after the upload is probed).
SWEEP_GRACE_SECONDS = 3600.0


def remove_work(media_dir: Path, task_id: str) -> None:
    """Delete a finished task's input, probe and work files (its results stay)."""
    media = TaskMedia(task_id)
    directory = media_dir / media.directory
    if not directory.is_dir():
        return
    shutil.rmtree(media_dir / media.work, ignore_errors=True)
    for path in directory.glob("input.*"):
        path.unlink(missing_ok=True)
    (media_dir / media.probe).unlink(missing_ok=True)


def remove_task(media_dir: Path, task_id: str) -> None:
    """Delete everything of a task (a failed one, or one whose record expired)."""
    shutil.rmtree(media_dir / TaskMedia(task_id).directory, ignore_errors=True)


async def sweep_expired(media_dir: Path, task_exists: Callable[[str], Awaitable[bool]]) -> int:
    """Delete the directories of tasks Redis no longer has (expired); returns how many went."""
    tasks = media_dir / TASKS_DIR
    if not tasks.is_dir():
        return 0
    swept = 0
    now = time.time()
    for directory in tasks.iterdir():
        if not directory.is_dir() or now - _newest_change(directory) < SWEEP_GRACE_SECONDS:
            continue
        if not await task_exists(directory.name):
            remove_task(media_dir, directory.name)
            swept += 1
    if swept:
        log.info("swept the media of %d expired video task(s)", swept)
    return swept


def _newest_change(directory: Path) -> float:
    times = [directory.stat().st_mtime]
    for path in directory.iterdir():
        try:
            times.append(path.stat().st_mtime)
        except FileNotFoundError:
            continue
    return max(times)
