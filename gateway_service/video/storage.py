"""The gateway's video media: the media store (``faceblur_proto.media_store``, GATEWAY_MEDIA_URL) and a scratch
directory (GATEWAY_SCRATCH_DIR), with what the gateway does to a whole task's objects.

Every read and write of a video task's files goes through ``VideoMedia.store`` (one ``MediaStore``: a directory or
an S3 bucket); where each file lives is ``faceblur_proto.media.TaskMedia``'s (shared with the face services). What
a task leaves behind: its input and work files go when the task ends (SUCCESS or FAILURE); its results (video.mp4,
faces.jsonl) stay while its record does (GATEWAY_TASK_TTL_SECONDS) and are swept once Redis has forgotten the task.
A clean-up that fails because the store does not answer is logged and left to the sweep, which finds every task
the store holds and Redis does not.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from faceblur_proto.media import TASKS_DIR, TaskMedia
from faceblur_proto.media_store import MediaStore, MediaStoreError, open_media_store
from gateway_service.core.config import Settings

log = logging.getLogger(__name__)

# A task younger than this (by its newest object) is never swept: its upload may still be arriving (the record is
# written after the upload is probed and stored).
SWEEP_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class VideoMedia:
    """The media store of video tasks and this gateway's scratch directory for the local files it works on."""

    store: MediaStore
    scratch_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> VideoMedia:
        store = open_media_store(settings.media_store_url, setting="GATEWAY_MEDIA_URL")
        return cls(store, settings.scratch_dir)

    def scratch(self) -> Path:
        """The scratch directory, made if it is not there (a temporary directory may be cleaned meanwhile)."""
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        return self.scratch_dir

    def remove_work(self, task_id: str) -> None:
        """Delete a finished task's input, probe and work files (its results stay)."""
        media = TaskMedia(task_id)
        self.store.delete_under(media.work)
        results = {media.video, media.faces}
        for stored in self.store.list_under(media.directory):
            if stored.key not in results:
                self.store.delete(stored.key)

    def remove_task(self, task_id: str) -> None:
        """Delete everything of a task (a failed one, a refused upload, or one whose record expired)."""
        self.store.delete_under(TaskMedia(task_id).directory)

    def clean_up(self, remove: Callable[[str], None], task_id: str) -> None:
        """``remove(task_id)``; a store that fails meanwhile is logged, and the sweep deletes what is left."""
        try:
            remove(task_id)
        except MediaStoreError as error:
            log.warning("left the media of task %s to the sweep: %s", task_id, error.reason, extra={"task_id": task_id})

    async def sweep_expired(
        self, task_exists: Callable[[str], Awaitable[bool]], grace_seconds: float = SWEEP_GRACE_SECONDS
    ) -> int:
        """Delete the objects of tasks Redis no longer has (expired, or never created), once the newest of a task's
        objects is ``grace_seconds`` old; returns how many tasks went. One listing of the store's tasks."""
        newest: dict[str, float] = {}
        for stored in await asyncio.to_thread(self.store.list_under, TASKS_DIR):
            task_id = stored.key.split("/", 2)[1]
            newest[task_id] = max(newest.get(task_id, 0.0), stored.modified)
        swept = 0
        now = time.time()
        for task_id, changed in newest.items():
            if now - changed < grace_seconds or await task_exists(task_id):
                continue
            await asyncio.to_thread(self.remove_task, task_id)
            swept += 1
        if swept:
            log.info("swept the media of %d expired video task(s)", swept)
        return swept
