"""Where a video task's files live in the media store that gateways and face services share (a directory or an S3
bucket: ``faceblur_proto.media_store``).

Videos never go through Redis: the gateway stores an upload as ``tasks/<id>/input.<ext>``, face services read it
and write segments under ``tasks/<id>/work/``, and the gateway joins them into ``tasks/<id>/video.mp4`` and
``faces.jsonl``. The input and the work files are deleted when the task ends; the results when its record expires.
Jobs name files by their keys, relative to the store (``media_store.check_key`` is the rule for both sides).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

TASKS_DIR = "tasks"


class UnsafeMediaPath(ValueError):
    """A job named a path outside the media store (absolute, with "..", not normalized)."""


class _Below:
    """A read-only ``TaskMedia`` attribute: the key of the file ``name`` in the task's folder ``parent`` (the
    attribute "directory" or "work")."""

    def __init__(self, parent: str, name: str) -> None:
        self.parent, self.name = parent, name

    @overload
    def __get__(self, media: None, owner: type) -> _Below: ...

    @overload
    def __get__(self, media: TaskMedia, owner: type) -> str: ...

    def __get__(self, media: TaskMedia | None, owner: type) -> _Below | str:
        return self if media is None else f"{getattr(media, self.parent)}/{self.name}"


@dataclass(frozen=True)
class TaskMedia:
    """The keys of one video task's files in the media store: the upload and the results in the task's
    directory, the face services' files in its ``work`` folder."""

    task_id: str

    work = _Below("directory", "work")
    probe = _Below("directory", "probe.json")  # the upload's probe (JSON), written by the gateway that accepted it
    video = _Below("directory", "video.mp4")
    faces = _Below("directory", "faces.jsonl")
    # The task's segments, as planned on its first attempt (JSON): work files are named by segment number.
    plan = _Below("work", "plan.json")

    @property
    def directory(self) -> str:
        return f"{TASKS_DIR}/{self.task_id}"

    def input(self, extension: str) -> str:
        return f"{self.directory}/input.{extension}"

    def detections(self, segment: int) -> str:
        return self._numbered("detect", segment, "json")

    def plate_detections(self, segment: int) -> str:
        """A segment's licence plates (tasks with plates), beside its faces."""
        return self._numbered("plates", segment, "json")

    def segment(self, segment: int) -> str:
        return self._numbered("segment", segment, "mp4")

    def _numbered(self, kind: str, segment: int, extension: str) -> str:
        return f"{self.work}/{kind}-{segment:05d}.{extension}"


def quarter_turns(rotation: float | None) -> int:
    """PyAV's ``frame.rotation`` (the display matrix's counterclockwise degrees) as quarter turns (0..3), to the
    nearest. One rule for the gateway's probe and the face service's decoder: it decides which side is the width."""
    return round((rotation or 0) / 90) % 4
