"""The result of a video task: the face services' blurred segments and the input's audio, in one MP4.

Nothing is re-encoded but audio the MP4 muxer cannot hold: the segments' H.264 packets are remuxed in order (they
must share one SPS/PPS, which ``join_segments`` checks), and the input's first audio stream is copied packet for
packet, so its bytes are the input's.

Timestamps: the video starts at 0 (the input's first frame, ``VideoInfo.start_pts``, becomes 0) and the audio is
shifted by the same amount, so it stays in sync. Audio rules, in the shifted time:

- codecs MP4 takes as they are (``MP4_COPY_AUDIO``) are copied whole, every packet: one that starts before 0 (AAC
  priming, audio that starts before the picture) keeps its negative timestamp, which MP4 holds with an edit list
  (as ``ffmpeg -c copy`` does), and audio that runs past the last frame is kept too, so the audio packets are the
  input's, byte for byte;
- any other (``pcm_s16le``, ``vorbis``...) is decoded and re-encoded to AAC, without the audio wholly before 0 or
  after the end of the video, and ``JoinedVideo.audio_copied`` is False.

No metadata is copied: not the container's (GPS position, device, dates), nor the streams' (rotation, handler and
language names). The segments are upright, so the output's display matrix is the identity.

The output is written to a hidden temporary file beside ``output_path`` and renamed onto it at the end; on any
error the temporary file is removed and ``JoinFailed`` is raised, so no output file appears.
"""

from __future__ import annotations

import heapq
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from gateway_service.video.info import VideoInfo

# Audio codecs the MP4 muxer holds as they are (anything else is re-encoded to AAC).
MP4_COPY_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus"})
AAC_BIT_RATE = 128_000
_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)

_FFMPEG_ERRORS = (av.FFmpegError, OSError, ValueError)


class JoinFailed(Exception):
    """The segments could not be joined into the output (the message says why); no output file was written."""


@dataclass(frozen=True)
class JoinedVideo:
    """The joined MP4: its video's frames, frame rate, duration and size; whether it has audio, and whether that
    audio is the input's packets (False: re-encoded to AAC)."""

    frames: int
    fps: float
    duration_s: float
    width: int
    height: int
    audio: bool
    audio_copied: bool


def join_segments(segment_paths: Sequence[Path], input_path: Path, info: VideoInfo, output_path: Path) -> JoinedVideo:
    """Remux ``segment_paths`` (in order) and the first audio stream of ``input_path`` into ``output_path``."""
    output_path = Path(output_path)
    temporary = output_path.with_name(f".{output_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        joined = _join([Path(path) for path in segment_paths], Path(input_path), info, temporary)
        os.replace(temporary, output_path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, _FFMPEG_ERRORS):
            raise JoinFailed(f"joining the video failed: {error}") from error
        raise
    return joined


@dataclass
class _VideoCount:
    frames: int = 0
    end: Fraction = Fraction(0)  # seconds, after the last frame


def _join(segment_paths: list[Path], input_path: Path, info: VideoInfo, output: Path) -> JoinedVideo:
    if not segment_paths:
        raise JoinFailed("no segments to join")
    offset = Fraction(info.start_pts) * info.time_base  # seconds: the input's first frame becomes 0
    video_end = Fraction(info.duration_s)  # the shifted end of the video, by the probe
    # A packet without a duration lasts one frame.
    frame_seconds = 1 / info.frame_rate if info.fps_num > 0 and info.fps_den > 0 else Fraction(1, 25)

    with _open(segment_paths[0], "segment 0") as first:
        template = _video_stream(first, segment_paths[0], 0)
        extradata = bytes(template.codec_context.extradata or b"")
        codec = template.codec_context.name
        width, height = template.codec_context.width, template.codec_context.height
        container = av.open(str(output), "w", format="mp4", options={"movflags": "+faststart"})
        with container:
            out_video = _copied_stream(container, template)
            with _open(input_path, "the input") as source:
                audio_in = source.streams.audio[0] if source.streams.audio else None
                if audio_in is not None and audio_in.codec_context is None:
                    audio_in = None  # audio no decoder knows: neither copied (MP4 could not hold it) nor encoded
                audio_packets: Iterator[tuple[Fraction, int, Any]] = iter(())
                copied = False
                if audio_in is not None:
                    copied = audio_in.codec_context.name in MP4_COPY_AUDIO
                    if copied:
                        out_audio = _copied_stream(container, audio_in)
                        audio_packets = _copied_audio(source, audio_in, out_audio, offset, video_end)
                    else:
                        out_audio = _aac_stream(container, audio_in)
                        audio_packets = _encoded_audio(source, audio_in, out_audio, offset, video_end)
                container.metadata.clear()
                count = _VideoCount()
                video_packets = _video(
                    segment_paths, out_video, codec, extradata, (width, height), offset, frame_seconds, count
                )
                for _, _, packet in heapq.merge(video_packets, audio_packets, key=lambda item: item[:2]):
                    container.mux(packet)
    if count.frames == 0:
        raise JoinFailed("the segments hold no frames")
    duration = float(count.end)
    fps = count.frames / duration if duration > 0 else info.fps
    return JoinedVideo(
        frames=count.frames,
        fps=info.fps if info.fps > 0 else fps,
        duration_s=duration,
        width=width,
        height=height,
        audio=audio_in is not None,
        audio_copied=audio_in is not None and copied,
    )


def _video(
    segment_paths: list[Path],
    out_video: Any,
    codec: str,
    extradata: bytes,
    size: tuple[int, int],
    offset: Fraction,
    frame_seconds: Fraction,
    count: _VideoCount,
) -> Iterator[tuple[Fraction, int, Any]]:
    """The segments' packets, shifted so the video starts at 0, as (dts in seconds, 0, packet)."""
    last_dts: Fraction | None = None
    for number, path in enumerate(segment_paths):
        with _open(path, f"segment {number}") as segment:
            stream = _video_stream(segment, path, number)
            context = stream.codec_context
            if context.name != codec or (context.width, context.height) != size:
                raise JoinFailed(
                    f"segment {number} is {context.name} {context.width}x{context.height}, segment 0 is "
                    f"{codec} {size[0]}x{size[1]}"
                )
            if bytes(context.extradata or b"") != extradata:
                raise JoinFailed(f"segment {number}'s codec parameters (SPS/PPS) differ from segment 0's")
            time_base = Fraction(stream.time_base)
            shift = round(offset / time_base)
            for packet in _packets(segment, stream):
                if packet.pts is None:
                    raise JoinFailed(f"segment {number} has a packet without a timestamp")
                dts = packet.dts if packet.dts is not None else packet.pts
                packet.pts -= shift
                packet.dts = dts - shift
                seconds = packet.dts * time_base
                if last_dts is not None and seconds <= last_dts:
                    raise JoinFailed(f"segment {number} overlaps the one before it (its timestamps go back)")
                last_dts = seconds
                count.frames += 1
                length = packet.duration * time_base if packet.duration else frame_seconds
                count.end = max(count.end, packet.pts * time_base + length)
                packet.stream = out_video
                yield seconds, 0, packet


def _copied_audio(
    source: Any, audio_in: Any, out_audio: Any, offset: Fraction, video_end: Fraction
) -> Iterator[tuple[Fraction, int, Any]]:
    """The input's audio packets, shifted like the video, as (dts in seconds, 1, packet); bytes untouched."""
    time_base = Fraction(audio_in.time_base)
    shift = round(offset / time_base)
    for packet in _packets(source, audio_in):
        start = packet.pts if packet.pts is not None else packet.dts
        if start is None:
            continue
        start -= shift
        packet.pts = None if packet.pts is None else packet.pts - shift
        packet.dts = None if packet.dts is None else packet.dts - shift
        packet.stream = out_audio
        dts = packet.dts if packet.dts is not None else start
        yield dts * time_base, 1, packet


def _encoded_audio(
    source: Any, audio_in: Any, out_audio: Any, offset: Fraction, video_end: Fraction
) -> Iterator[tuple[Fraction, int, Any]]:
    """The input's audio decoded, shifted like the video and encoded to AAC, as (dts in seconds, 1, packet)."""
    for frame in source.decode(audio_in):
        if frame.pts is None or frame.time_base is None:
            continue
        time_base = Fraction(frame.time_base)
        start = frame.pts - round(offset / time_base)
        length = round(Fraction(frame.samples, frame.sample_rate) / time_base)
        if _outside(start, length, time_base, video_end):
            continue
        frame.pts = start
        yield from _tagged(out_audio.encode(frame))
    yield from _tagged(out_audio.encode(None))


def _tagged(packets: list[Any]) -> Iterator[tuple[Fraction, int, Any]]:
    for packet in packets:
        stamp = packet.dts if packet.dts is not None else packet.pts
        yield Fraction(stamp or 0) * Fraction(packet.time_base), 1, packet


def _outside(start: int, length: int, time_base: Fraction, video_end: Fraction) -> bool:
    """Whether an audio packet from ``start`` for ``length`` ticks lies wholly before 0 or starts after the video."""
    return start + length <= 0 or start * time_base >= video_end


def _aac_stream(container: Any, audio_in: Any) -> Any:
    context = audio_in.codec_context
    rate = context.sample_rate if context.sample_rate in _AAC_RATES else 48000
    layout = "mono" if context.channels == 1 else "stereo"  # more channels are mixed down
    stream = container.add_stream("aac", rate=rate, layout=layout)
    stream.bit_rate = AAC_BIT_RATE
    return stream


def _video_stream(container: Any, path: Path, number: int) -> Any:
    if not container.streams.video:
        raise JoinFailed(f"segment {number} ({path.name}) has no video stream")
    return container.streams.video[0]


def _packets(container: Any, stream: Any) -> Iterator[Any]:
    """The stream's packets, without the empty one the demuxer ends with."""
    return (packet for packet in container.demux(stream) if packet.size > 0)


def _copied_stream(container: Any, template: Any) -> Any:
    """An output stream for ``template``'s packets as they are: its codec and time base, none of its metadata."""
    stream = container.add_stream_from_template(template)
    stream.time_base = template.time_base
    for key in list(stream.metadata):
        del stream.metadata[key]
    return stream


class _open:
    """``av.open`` for reading, with a JoinFailed that names the file when it cannot be opened."""

    def __init__(self, path: Path, what: str) -> None:
        try:
            self.container = av.open(str(path), metadata_errors="replace")
        except _FFMPEG_ERRORS as error:
            raise JoinFailed(f"{what} ({path.name}) cannot be read: {error}") from error

    def __enter__(self) -> Any:
        return self.container

    def __exit__(self, *exc: object) -> None:
        self.container.close()
