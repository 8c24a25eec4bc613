"""The media directory as the gateway uses it: every read, write and delete of a video task's files goes through
``MediaStore``, so object storage can later take the directory's place behind this one small interface.

What a task leaves behind: its input and work files go when the task ends (SUCCESS or FAILURE); its results
(video.mp4, faces.jsonl) stay while its record does (GATEWAY_TASK_TTL_SECONDS) and are swept once Redis has
forgotten the task. Where each file lives is ``faceblur_proto.media.TaskMedia``'s (shared with the face services).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from faceblur_proto.media import TASKS_DIR, TaskMedia

log = logging.getLogger(__name__)

# A task directory younger than this is never swept: its upload may still be arriving (the record is written
# after the upload is probed).
SWEEP_GRACE_SECONDS = 3600.0


class MediaStore:
    """The media directory ``root`` (GATEWAY_MEDIA_DIR, the face services' FACE_MEDIA_DIR). Files are named by
    their paths relative to it (``TaskMedia``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, relative: str) -> Path:
        """The file as a local path, for what reads or writes it itself (the upload, the probe, the join)."""
        return self.root / relative

    def exists(self, relative: str) -> bool:
        return self.path(relative).is_file()

    def read_json(self, relative: str) -> Any:
        """The file's JSON; FileNotFoundError if it is not there."""
        return json.loads(self.path(relative).read_text())

    def write_json(self, relative: str, value: Any) -> None:
        self.write_lines(relative, [json.dumps(value)])

    def write_lines(self, relative: str, lines: Iterable[str]) -> None:
        """``lines`` into the file, whole or not at all (a temporary file renamed onto it)."""
        path = self.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        with temporary.open("w") as file:
            file.writelines(lines)
        os.replace(temporary, path)

    def size(self, relative: str) -> int:
        return self.path(relative).stat().st_size

    def remove_work(self, task_id: str) -> None:
        """Delete a finished task's input, probe and work files (its results stay)."""
        media = TaskMedia(task_id)
        directory = self.path(media.directory)
        if not directory.is_dir():
            return
        shutil.rmtree(self.path(media.work), ignore_errors=True)
        for path in directory.glob("input.*"):
            path.unlink(missing_ok=True)
        self.path(media.probe).unlink(missing_ok=True)

    def remove_task(self, task_id: str) -> None:
        """Delete everything of a task (a failed one, a refused upload, or one whose record expired)."""
        shutil.rmtree(self.path(TaskMedia(task_id).directory), ignore_errors=True)

    async def sweep_expired(self, task_exists: Callable[[str], Awaitable[bool]]) -> int:
        """Delete the directories of tasks Redis no longer has (expired); returns how many went."""
        tasks = self.path(TASKS_DIR)
        if not tasks.is_dir():
            return 0
        swept = 0
        now = time.time()
        for directory in tasks.iterdir():
            if not directory.is_dir() or now - _newest_change(directory) < SWEEP_GRACE_SECONDS:
                continue
            if not await task_exists(directory.name):
                self.remove_task(directory.name)
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
