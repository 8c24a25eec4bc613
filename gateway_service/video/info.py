"""The contract of a probed video, with no FFmpeg: ``VideoInfo`` (``probe.json``, what the planner and the joiner
read) and ``VideoLimits`` (the largest video the gateway takes, from its settings).

``probe.py`` fills them in by reading the file; ``plan.py`` and the dispatcher only read them, so they import this
module and not PyAV.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class VideoLimits:
    """The largest video the gateway takes. The resolution limit is orientation-free: with 3840x2160, a portrait
    2160x3840 passes too."""

    max_duration_seconds: float
    max_width: int
    max_height: int
    max_frames: int

    @classmethod
    def from_settings(cls, settings: Any) -> VideoLimits:
        width, height = (int(part) for part in str(settings.video_max_resolution).lower().split("x"))
        return cls(
            max_duration_seconds=float(settings.video_max_duration_seconds),
            max_width=width,
            max_height=height,
            max_frames=int(settings.video_max_frames),
        )

    def resolution_fits(self, width: int, height: int) -> bool:
        return max(width, height) <= max(self.max_width, self.max_height) and min(width, height) <= min(
            self.max_width, self.max_height
        )


@dataclass(frozen=True)
class VideoInfo:
    """A probed video (``probe.json``). Timestamps are in the video stream's time base; frames are numbered in
    presentation order. ``width``/``height`` are as shown, after ``rotation`` (counter-clockwise degrees, as
    PyAV's ``VideoFrame.rotation``) is applied."""

    format_name: str
    codec_name: str
    width: int
    height: int
    rotation: int
    fps: float
    fps_num: int
    fps_den: int
    time_base_num: int
    time_base_den: int
    frame_count: int
    duration_s: float
    start_pts: int
    frame_pts: tuple[int, ...] = field(repr=False)
    keyframe_indexes: tuple[int, ...] = field(repr=False)
    seekable: bool
    audio_codec: str | None

    @property
    def time_base(self) -> Fraction:
        return Fraction(self.time_base_num, self.time_base_den)

    @property
    def frame_rate(self) -> Fraction:
        return Fraction(self.fps_num, self.fps_den)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["frame_pts"] = list(self.frame_pts)
        data["keyframe_indexes"] = list(self.keyframe_indexes)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoInfo:
        values = dict(data)
        values["frame_pts"] = tuple(int(pts) for pts in values["frame_pts"])
        values["keyframe_indexes"] = tuple(int(index) for index in values["keyframe_indexes"])
        return cls(**values)
