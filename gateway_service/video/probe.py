"""What an uploaded video is, read from its packets, and whether the gateway takes it.

``probe_video`` demuxes every packet of the video stream (no decode: a 1 GiB file takes about as long as reading
it) and decodes only the first frame, to prove the codec decodes and to read the rotation. Everything that matters
(frame count, duration, timestamps, keyframes) is counted from the packets, so a header that lies about the
duration or the frame count changes nothing. A rejected video raises ``VideoRejected`` with the HTTP status the
API answers with: 400 unreadable or no video, 413 over a limit (the message names the setting), 415 a codec that
does not decode.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from faceblur_proto.media import quarter_turns
from gateway_service.video.info import VideoInfo, VideoLimits

# Packets decoded at most while looking for the first frame (a decoder with a long delay still yields one).
FIRST_FRAME_PACKETS = 300

# Demuxers of video containers and raw video streams; ffmpeg also reads text (tty), images and subtitles as
# "video", which are no videos here.
VIDEO_FORMATS = frozenset(
    {
        "mov",
        "mp4",
        "m4a",
        "3gp",
        "3g2",
        "mj2",
        "matroska",
        "webm",
        "avi",
        "mpegts",
        "mpeg",
        "mpegvideo",
        "flv",
        "asf",
        "ogg",
        "mxf",
        "nut",
        "dv",
        "h264",
        "hevc",
        "m4v",
        "ivf",
        "obu",
        "rm",
        "wtv",
    }
)

_FFMPEG_ERRORS = (av.FFmpegError, OSError, ValueError, UnicodeDecodeError)


class VideoRejected(Exception):
    """The upload cannot be taken; ``status_code`` is the HTTP answer (400, 413 or 415)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def probe_video(path: Path, limits: VideoLimits) -> VideoInfo:
    """Probe ``path``; VideoRejected when it is no video, cannot be decoded or is over ``limits``."""
    container = _open(path)
    with container:
        if not VIDEO_FORMATS & set(container.format.name.split(",")):
            raise VideoRejected(
                f"the file is not a video (it reads as {container.format.long_name or container.format.name})"
            )
        if not container.streams.video:
            kinds = sorted({stream.type for stream in container.streams})
            has = f"it has only {' and '.join(kinds)} streams" if kinds else "it has no streams"
            raise VideoRejected(f"the file has no video stream ({has})")
        stream = container.streams.video[0]
        context = stream.codec_context
        codec_name = _codec_name(stream)
        if context is None:
            known = f" {codec_name}" if codec_name != "unknown" else ""
            raise VideoRejected(f"the video codec{known} is not supported (there is no decoder for it)", 415)
        if context.width and context.height and not limits.resolution_fits(context.width, context.height):
            raise _over_resolution(context.width, context.height, limits)
        format_name = container.format.name
        audio_codec = _codec_name(container.streams.audio[0]) if container.streams.audio else None

    width, height, rotation = _first_frame(path, codec_name)
    if not limits.resolution_fits(width, height):
        raise _over_resolution(width, height, limits)
    if rotation in (90, 270):
        width, height = height, width

    container = _open(path)
    with container:
        stream = container.streams.video[0]
        time_base = Fraction(stream.time_base or Fraction(1, 90000))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        packets = _read_packets(container, stream, time_base, limits)
    frames = _frames(packets, Fraction(rate) if rate else None, time_base, limits)
    return VideoInfo(
        format_name=format_name,
        codec_name=codec_name,
        width=width,
        height=height,
        rotation=rotation,
        fps=float(frames.rate),
        fps_num=frames.rate.numerator,
        fps_den=frames.rate.denominator,
        time_base_num=time_base.numerator,
        time_base_den=time_base.denominator,
        frame_count=len(frames.pts),
        duration_s=frames.duration_s,
        start_pts=frames.pts[0],
        frame_pts=frames.pts,
        keyframe_indexes=frames.keyframes or (0,),
        seekable=frames.seekable,
        audio_codec=audio_codec,
    )


def _open(path: Path) -> Any:
    """The file as an FFmpeg container; VideoRejected (400) when FFmpeg cannot open it."""
    try:
        return av.open(str(path), metadata_errors="replace")
    except _FFMPEG_ERRORS as error:
        raise VideoRejected(
            f"the file is not a video that can be read: not a video, or truncated ({_reason(error)})"
        ) from None


@dataclass
class _Packet:
    pts: int | None
    dts: int | None
    duration: int
    keyframe: bool
    corrupt: bool


def _read_packets(container: Any, stream: Any, time_base: Fraction, limits: VideoLimits) -> list[_Packet]:
    packets: list[_Packet] = []
    low = high = None
    # Stop reading a video twice as long as the limits allow (the span of the timestamps only grows); up to that
    # the message says exactly how long it is.
    max_span = 2 * limits.max_duration_seconds / time_base
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's flush packet
                continue
            packets.append(
                _Packet(packet.pts, packet.dts, packet.duration or 0, bool(packet.is_keyframe), packet.is_corrupt)
            )
            if len(packets) > 2 * limits.max_frames:
                raise VideoRejected(
                    f"video has more than {2 * limits.max_frames} frames; the limit is {limits.max_frames} "
                    "(GATEWAY_VIDEO_MAX_FRAMES)",
                    413,
                )
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is not None:
                low = stamp if low is None else min(low, stamp)
                high = stamp if high is None else max(high, stamp)
                if high - low > max_span:
                    raise VideoRejected(
                        f"video is longer than {_seconds(2 * limits.max_duration_seconds)} s; the limit is "
                        f"{_seconds(limits.max_duration_seconds)} s (GATEWAY_VIDEO_MAX_DURATION_SECONDS)",
                        413,
                    )
    except _FFMPEG_ERRORS as error:
        if not packets:
            raise VideoRejected(f"the video cannot be read ({_reason(error)})") from None
        raise VideoRejected(
            f"the video is damaged or truncated after {len(packets)} frames ({_reason(error)})"
        ) from None
    # A file cut short ends in a partial packet: keep the whole frames before it.
    while packets and packets[-1].corrupt:
        packets.pop()
    if not packets:
        raise VideoRejected("the video is truncated: its stream has no complete frame")
    return packets


def _first_frame(path: Path, codec_name: str) -> tuple[int, int, int]:
    """(width, height, rotation) of the first decoded frame, as coded; 415 when the codec fails to decode, 400 when
    the stream yields no frame or the file is cut short (or damaged) before it."""
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        cut_short = False
        try:
            for number, packet in enumerate(container.demux(stream)):
                if number >= FIRST_FRAME_PACKETS:
                    break
                # FFmpeg flags a packet the file holds only part of as corrupt: a file cut short after its index
                # (MP4 faststart) ends in one, and decoding that fails through no fault of the codec.
                cut_short = cut_short or packet.is_corrupt
                for frame in packet.decode():  # the flush packet (last) drains the decoder
                    return frame.width, frame.height, quarter_turns(frame.rotation) * 90
        except _FFMPEG_ERRORS as error:
            if cut_short:
                raise VideoRejected(
                    f"the video is truncated or damaged: its first frame is incomplete ({_reason(error)})"
                ) from None
            raise VideoRejected(
                f"the video codec {codec_name} is not supported (it fails to decode: {_reason(error)})", 415
            ) from None
    raise VideoRejected("the video has no decodable frames")


@dataclass(frozen=True)
class _Frames:
    """The frames as the packets tell: their pts in presentation order, the keyframes' indexes, whether each frame
    has a pts of its own (a segment can seek to it), the duration and the frame rate."""

    pts: tuple[int, ...]
    keyframes: tuple[int, ...]
    seekable: bool
    duration_s: float
    rate: Fraction


def _frames(packets: list[_Packet], rate: Fraction | None, time_base: Fraction, limits: VideoLimits) -> _Frames:
    """The frames of the video stream's packets; VideoRejected (413) when there are too many or they last too
    long. ``rate``: the stream's own frame rate, if it says one."""
    count = len(packets)
    pts = [packet.pts for packet in packets]
    seekable = all(stamp is not None for stamp in pts) and len(set(pts)) == count
    if seekable:
        order = sorted(range(count), key=lambda index: pts[index])
        frame_pts = [pts[index] for index in order]
        rank = {original: position for position, original in enumerate(order)}
        keyframes = sorted(rank[index] for index, packet in enumerate(packets) if packet.keyframe)
    else:
        # No trustworthy pts: the decode-order timestamps if every packet has one, else a count of frames.
        stamps = [packet.pts if packet.pts is not None else packet.dts for packet in packets]
        if all(stamp is not None for stamp in stamps):
            frame_pts = sorted(stamps)  # type: ignore[type-var]
        else:
            step = 1 / (rate * time_base) if rate else 1
            frame_pts = [round(index * step) for index in range(count)]
        keyframes = [index for index, packet in enumerate(packets) if packet.keyframe]

    deltas = [later - earlier for earlier, later in itertools.pairwise(frame_pts) if later > earlier]
    if deltas:
        frame_ticks: float = statistics.median(deltas)
    elif packets[-1].duration > 0:
        frame_ticks = packets[-1].duration
    elif rate:
        frame_ticks = float(1 / (rate * time_base))
    else:
        frame_ticks = float(1 / (25 * time_base))
    duration_s = float((frame_pts[-1] - frame_pts[0] + frame_ticks) * time_base)
    if not rate:
        rate = Fraction(count / duration_s).limit_denominator(1001) if duration_s > 0 else Fraction(25)

    if count > limits.max_frames:
        raise VideoRejected(
            f"video has {count} frames; the limit is {limits.max_frames} (GATEWAY_VIDEO_MAX_FRAMES)", 413
        )
    if duration_s > limits.max_duration_seconds:
        raise VideoRejected(
            f"video is {_seconds(duration_s)} s long; the limit is {_seconds(limits.max_duration_seconds)} s "
            "(GATEWAY_VIDEO_MAX_DURATION_SECONDS)",
            413,
        )
    return _Frames(tuple(frame_pts), tuple(keyframes), seekable, duration_s, rate)


def _over_resolution(width: int, height: int, limits: VideoLimits) -> VideoRejected:
    return VideoRejected(
        f"video is {width}x{height}; the limit is {limits.max_width}x{limits.max_height} either way round "
        "(GATEWAY_VIDEO_MAX_RESOLUTION)",
        413,
    )


def _codec_name(stream: Any) -> str:
    try:
        context = stream.codec_context
    except _FFMPEG_ERRORS:
        context = None
    if context is not None and context.name:
        return str(context.name)
    return "unknown"


def _seconds(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _reason(error: BaseException) -> str:
    message = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(message)
