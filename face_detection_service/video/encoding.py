"""Write a segment's frames as an MP4 the gateway can join to its neighbours by remuxing.

Joining segments without re-encoding needs each segment to be self-contained and to keep the input's clock: H.264
yuv420p with no B-frames (so every packet's dts equals its pts and no segment needs an edit list), the input
stream's time base, and each frame's pts copied from the input frame. Nothing else is copied from the input: no
tags, no side data. The file appears at its final path only once complete (written to ``<path>.tmp-<pid>``, then
renamed), so a crash or a full disk never leaves a half segment behind.
"""

from __future__ import annotations

import contextlib
import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import av.container

from .planes import Yuv420, to_frame


class VideoOutputError(RuntimeError):
    """The segment could not be written (disk full, permissions): the server's problem, not the caller's."""


class SegmentWriter:
    """``with SegmentWriter(...) as writer: writer.write(planes, pts)``; the file is in place after the block."""

    def __init__(
        self,
        path: Path,
        width: int,
        height: int,
        time_base: Fraction,
        frame_rate: Fraction | None,
        crf: int,
        preset: str,
        threads: int = 1,
    ):
        self.path = path
        self.temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        self.frames = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._container = open_output(self.temporary)
            stream = self._container.add_stream(
                "libx264",
                rate=frame_rate,
                options={"crf": str(crf), "preset": preset, "bf": "0", "x264-params": "bframes=0"},
            )
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            # One worker process runs per core: x264's own thread pool (one per core by default) would oversubscribe.
            stream.codec_context.thread_count = threads
            stream.codec_context.time_base = time_base
            stream.time_base = time_base
            self._stream = stream
        except OSError as exc:
            self._discard()
            raise VideoOutputError(f"writing the video segment failed: {exc}") from None

    def __enter__(self) -> SegmentWriter:
        return self

    def write(self, planes: Yuv420, pts: int) -> None:
        frame = to_frame(planes)
        frame.pts = pts
        frame.time_base = self._stream.codec_context.time_base
        self._mux(self._stream.encode(frame))
        self.frames += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is not None:
            self._discard()
            if isinstance(error, OSError):
                raise VideoOutputError(f"writing the video segment failed: {error}") from None
            return
        try:
            self._mux(self._stream.encode(None))
            self._container.close()
            os.replace(self.temporary, self.path)
        except OSError as exc:
            self._discard()
            raise VideoOutputError(f"writing the video segment failed: {exc}") from None

    def _mux(self, packets: list[av.Packet]) -> None:
        if packets:
            self._container.mux(packets)

    def _discard(self) -> None:
        container = getattr(self, "_container", None)
        if container is not None:
            with contextlib.suppress(OSError, av.FFmpegError):
                container.close()
        self.temporary.unlink(missing_ok=True)


def open_output(path: Path) -> av.container.OutputContainer:
    """The MP4 container the segment is written to (a seam for tests that simulate a full disk)."""
    return av.open(str(path), "w", format="mp4")
