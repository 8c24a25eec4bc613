"""A video segment's frames, upright, with their indexes in the whole video and their timestamps.

The gateway splits a video into segments by keyframe and tells each job where to seek (``seek_pts``) and which
frame is the segment's first (``first_pts``, ``first_frame``). Files whose timestamps cannot be trusted are
decoded from the start, counting frames, which is slower but always right.

The decoder keeps FFmpeg's default threading: ``thread_type = "AUTO"`` measured no faster on this service's one
core per worker (720p H.264: 3.9-4.2 ms a frame either way), and workers already fill every core.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.container
import av.video.stream

from faceblur_proto.media import quarter_turns

from .planes import upright_size

log = logging.getLogger(__name__)

# FFmpeg shows any text or binary file named *.txt, *.bin... as "ANSI art" video: not what a user means by a video.
TEXT_ART_FORMATS = frozenset({"tty", "bin", "adf", "idf", "xbin"})


class VideoInputError(ValueError):
    """The job's input is not a readable video (missing, not a video, no video stream): the caller's fault."""


@dataclass(frozen=True)
class Segment:
    """Which frames of which file: the proto's VideoSegment, minus what the jobs do with them."""

    input_path: Path | BinaryIO  # a local file, or a reader of the stored input (``video.media``)
    first_frame: int
    frame_count: int
    seek_pts: int = 0
    first_pts: int = 0
    seekable: bool = True
    # (width, height) as shown that every frame is scaled to, so a resolution change mid-stream gives one size;
    # None: each frame as decoded.
    frame_size: tuple[int, int] | None = None
    # A decoded frame with more pixels fails the job (FACE_MAX_PIXELS): the gateway's probe sees only the first
    # frame, and a later one may claim any size. 0: no limit.
    max_pixels: int = 0


@dataclass
class DecodedFrame:
    index: int  # in the whole video, from 0, in presentation order
    pts: int  # in the stream's time base; synthesized from the index when the file has none
    frame: av.VideoFrame
    rotation: int  # quarter turns counterclockwise that make the frame upright (0..3)


@dataclass(frozen=True)
class StreamInfo:
    time_base: Fraction
    average_rate: Fraction | None


def open_video(source: Path | BinaryIO) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """The opened file (a path, or a seekable binary reader with a ``name``, such as a media store's
    ``BlockReader``) and its first video stream; VideoInputError naming the problem otherwise. A reader's own
    errors (a media store that stopped answering) pass unchanged."""
    name = Path(source).name if isinstance(source, Path) else str(getattr(source, "name", "the video"))
    try:
        container = av.open(str(source) if isinstance(source, Path) else source, "r")
    except FileNotFoundError:
        raise VideoInputError(f"the video file {name!r} does not exist") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise VideoInputError(f"cannot open {name!r} as a video: {reason}") from None
    if not container.streams.video or container.format.name in TEXT_ART_FORMATS:
        container.close()
        raise VideoInputError(f"{name!r} has no video stream")
    return container, container.streams.video[0]


def stream_info(stream: av.video.stream.VideoStream) -> StreamInfo:
    time_base = stream.time_base or Fraction(1, 90000)
    return StreamInfo(Fraction(time_base), Fraction(stream.average_rate) if stream.average_rate else None)


def decode_segment(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, segment: Segment
) -> Iterator[DecodedFrame]:
    """The segment's frames in order: ``frame_count`` of them, fewer if the file ends first.

    Seekable: from the keyframe at or before ``seek_pts``, dropping frames before ``first_pts``. Not seekable:
    from the start, skipping the first ``first_frame`` frames.
    """
    info = stream_info(stream)
    if segment.seekable and segment.seek_pts > 0:
        container.seek(segment.seek_pts, stream=stream, backward=True)
    # Seekable: frames are counted from the first one at or after first_pts, which is frame first_frame.
    # Not seekable: every frame is counted from the start of the file.
    index = segment.first_frame if segment.seekable else 0
    end = segment.first_frame + segment.frame_count
    started = False
    for frame in _frames(container, stream):
        if segment.seekable:
            started = started or frame.pts is None or frame.pts >= segment.first_pts
            if not started:
                continue
        if index >= end:
            return
        if index >= segment.first_frame:
            _check_size(frame, index, segment.max_pixels)
            pts = frame.pts if frame.pts is not None else synthesized_pts(index, info)
            turns = quarter_turns(frame.rotation)
            yield DecodedFrame(index, pts, scaled_to(frame, segment.frame_size, turns), turns)
        index += 1


def _check_size(frame: av.VideoFrame, index: int, max_pixels: int) -> None:
    pixels = frame.width * frame.height
    if max_pixels and pixels > max_pixels:
        raise VideoInputError(
            f"frame {index} is {frame.width}x{frame.height} = {pixels / 1e6:.1f} megapixels; the limit is "
            f"{max_pixels / 1e6:g} megapixels (FACE_MAX_PIXELS)"
        )


def scaled_to(frame: av.VideoFrame, shown_size: tuple[int, int] | None, turns: int) -> av.VideoFrame:
    """The frame scaled to ``shown_size`` (as shown, after ``turns``), as FFmpeg's command line scales a video whose
    resolution changes mid-stream to its first size; unchanged when it already has that size or none is given."""
    if shown_size is None:
        return frame
    coded_width, coded_height = upright_size(*shown_size, turns)  # a quarter turn swaps the sides either way
    if (frame.width, frame.height) == (coded_width, coded_height):
        return frame
    return frame.reformat(width=coded_width, height=coded_height, interpolation="AREA")


def _frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> Iterator[av.VideoFrame]:
    """Every frame the decoder gives; a packet it cannot decode is skipped (logged), the rest go on."""
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except (av.InvalidDataError, av.error.PatchWelcomeError) as exc:
            log.warning("skipping an undecodable packet at pts %s: %s", packet.pts, exc)
            continue
        yield from frames


def synthesized_pts(index: int, info: StreamInfo) -> int:
    """A frame's pts from its index, for files without timestamps: index / frame rate, in the time base."""
    if info.average_rate:
        return round(index / info.average_rate / info.time_base)
    return index
