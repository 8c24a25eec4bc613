"""Small video files for tests, made with PyAV: a window panning over the reference photo (two large faces); and
the H.264 writer that the other clips of the tests and benchmarks are made with (``write_h264``)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import OutputContainer
from av.video.stream import VideoStream
from PIL import Image

from tests.stack import REPO_ROOT

REFERENCE_PHOTO = REPO_ROOT.parent / "shared" / "data" / "reference" / "test.jpg"


def panning_frames(frames: int, width: int, height: int) -> list[np.ndarray]:
    """RGB frames of a window sliding left to right across the reference photo (its two faces stay in view)."""
    photo = Image.open(REFERENCE_PHOTO).convert("RGB")
    scale = height / photo.height
    photo = photo.resize((max(width + frames, round(photo.width * scale)), height))
    pixels = np.asarray(photo)
    travel = pixels.shape[1] - width
    return [np.ascontiguousarray(pixels[:, round(travel * i / max(frames - 1, 1)) :][:, :width]) for i in range(frames)]


def h264_stream(
    output: OutputContainer, fps: int | Fraction, size: tuple[int, int], options: dict[str, str]
) -> VideoStream:
    """A libx264 stream (yuv420p) of ``size`` at ``fps`` in ``output``, its encoder given ``options`` (crf, preset,
    g, ...)."""
    video = output.add_stream("libx264", rate=fps, options=options)
    video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
    return video


def mux_frames(output: OutputContainer, video: VideoStream, frames: Iterable[np.ndarray], first_pts: int = 0) -> None:
    """Encode the RGB ``frames`` into ``video`` at its frame rate, their pts counting from ``first_pts``, and mux
    every packet, the encoder's last ones (flushed) included."""
    tick = 1 / video.codec_context.framerate
    for pts, rgb in enumerate(frames, first_pts):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = pts, tick
        output.mux(video.encode(frame))
    output.mux(video.encode(None))


def write_h264(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: int,
    size: tuple[int, int],
    options: dict[str, str],
    *,
    container: str | None = None,
    rotation: int | None = None,
    first_pts: int = 0,
) -> Path:
    """A video-only file of the RGB ``frames`` (``h264_stream``, ``mux_frames``), shown turned by ``rotation``."""
    with av.open(str(path), "w", format=container) as output:
        video = h264_stream(output, fps, size, options)
        if rotation:
            video.set_display_rotation(rotation)
        mux_frames(output, video, frames, first_pts)
    return path


def write_clip(
    path: Path,
    seconds: float = 2.0,
    fps: int = 25,
    size: tuple[int, int] = (480, 270),
    audio: bool = True,
    gop: int = 12,
    container: str | None = None,
) -> Path:
    """An H.264 clip (with an AAC tone when ``audio``): ``seconds`` at ``fps``, a keyframe every ``gop`` frames."""
    options = {"crf": "23", "preset": "ultrafast", "g": str(gop), "keyint_min": str(gop)}
    with av.open(str(path), "w", format=container) as output:
        video = h264_stream(output, fps, size, options)
        sound = output.add_stream("aac", rate=44100) if audio else None
        mux_frames(output, video, panning_frames(round(seconds * fps), *size))
        if sound is not None:
            _write_tone(output, sound, seconds)
    return path


def write_resizing_clip(path: Path, sizes: list[tuple[int, int]], seconds_each: float = 1.0, fps: int = 25) -> Path:
    """An H.264 MPEG-TS clip whose resolution changes mid-stream, as a camera or screen recorder that switches size
    writes one: ``seconds_each`` of it at each of ``sizes`` in turn. Every frame is the panning at the first size,
    resized, so scaled back to the first size each shows what a clip of one size would (``panning_frames``)."""
    per_part = round(seconds_each * fps)
    frames = panning_frames(per_part * len(sizes), *sizes[0])
    options = {"crf": "23", "preset": "ultrafast", "g": "12"}
    parts = []
    for number, size in enumerate(sizes):
        part = path.with_name(f"{path.stem}.part{number}.ts")
        first = number * per_part
        resized = (
            np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
            for rgb in frames[first : first + per_part]
        )
        write_h264(part, resized, fps, size, options, container="mpegts", first_pts=first)
        parts.append(part.read_bytes())
        part.unlink()
    # MPEG-TS streams joined end to end are one stream: the decoder meets the new size at the next keyframe.
    path.write_bytes(b"".join(parts))
    return path


def _write_tone(output: OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    rate, samples_per_frame = 44100, 1024
    total = int(rate * seconds)
    for start in range(0, total, samples_per_frame):
        t = np.arange(start, min(start + samples_per_frame, total)) / rate
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        output.mux(stream.encode(frame))
    output.mux(stream.encode(None))


def packets(path: Path, kind: str) -> list[bytes]:
    """The bytes of every packet of the first ``kind`` ("video" or "audio") stream."""
    with av.open(str(path)) as container:
        streams = getattr(container.streams, kind)
        if not streams:
            return []
        return [bytes(packet) for packet in container.demux(streams[0]) if packet.size]


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
