"""Where a video task's files live in the media store that gateways and face services share (a directory or an S3
bucket: ``faceblur_proto.media_store``).

Videos never go through Redis: the gateway stores an upload as ``tasks/<id>/input.<ext>``, face services read it
and write segments under ``tasks/<id>/work/``, and the gateway joins them into ``tasks/<id>/video.mp4`` and
``faces.jsonl``. The input and the work files are deleted when the task ends; the results when its record expires.
Jobs name files by their keys, relative to the store (``media_store.check_key`` is the rule for both sides).
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS_DIR = "tasks"


class UnsafeMediaPath(ValueError):
    """A job named a path outside the media store (absolute, with "..", not normalized)."""


@dataclass(frozen=True)
class TaskMedia:
    """The keys of one video task's files in the media store."""

    task_id: str

    @property
    def directory(self) -> str:
        return f"{TASKS_DIR}/{self.task_id}"

    def input(self, extension: str) -> str:
        return f"{self.directory}/input.{extension}"

    @property
    def probe(self) -> str:
        """The upload's probe (JSON), written by the gateway that accepted it."""
        return f"{self.directory}/probe.json"

    @property
    def work(self) -> str:
        return f"{self.directory}/work"

    @property
    def plan(self) -> str:
        """The task's segments, as planned on its first attempt (JSON): work files are named by segment number."""
        return f"{self.work}/plan.json"

    def detections(self, segment: int) -> str:
        return f"{self.work}/detect-{segment:05d}.json"

    def plate_detections(self, segment: int) -> str:
        """A segment's licence plates (tasks with plates), beside its faces."""
        return f"{self.work}/plates-{segment:05d}.json"

    def segment(self, segment: int) -> str:
        return f"{self.work}/segment-{segment:05d}.mp4"

    @property
    def video(self) -> str:
        return f"{self.directory}/video.mp4"

    @property
    def faces(self) -> str:
        return f"{self.directory}/faces.jsonl"


def quarter_turns(rotation: float | None) -> int:
    """PyAV's ``frame.rotation`` (the display matrix's counterclockwise degrees) as quarter turns (0..3), to the
    nearest. One rule for the gateway's probe and the face service's decoder: it decides which side is the width."""
    return round((rotation or 0) / 90) % 4
