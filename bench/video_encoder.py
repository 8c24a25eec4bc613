"""Choose the video output's x264 speed preset and CRF by measurement: encode time, file size and PSNR.

Every frame of each clip is decoded once into memory, then encoded by each (preset, CRF) pair with the face
service's own SegmentWriter (libx264, yuv420p, no B-frames, one thread: one worker per core), and decoded again to
score luma PSNR against the input. Ratios are to the first pair, measured in the same run.

Clips: the first bench clip (bench/video_clips.py, a 720p pan over a WIDER FACE photo) and every real clip in
../shared/data/videos.

    PYTHONPATH=. .venv/bin/python -m bench.video_encoder [--pairs veryfast:20,superfast:21,...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from face_detection_service.video.decoding import stream_info
from face_detection_service.video.encoding import SegmentWriter
from face_detection_service.video.planes import Yuv420, yuv420_planes
from faceblur_proto.media import quarter_turns
from faceblur_proto.vocabulary import DEFAULT_CRF, DEFAULT_VIDEO_ENCODER_PRESET

from .photos import SHARED
from .video_clips import standard_clips

PAIRS = f"veryfast:20,{DEFAULT_VIDEO_ENCODER_PRESET}:{DEFAULT_CRF},superfast:20,superfast:21,ultrafast:22,faster:20"


@dataclass(frozen=True)
class Encoded:
    ms_per_frame: float
    size_bytes: int
    psnr_db: float


@dataclass(frozen=True)
class Clip:
    frames: list[Yuv420]  # upright, as the face service hides faces in them
    pts: list[int]
    time_base: Fraction
    frame_rate: Fraction | None


def decode_clip(path: Path) -> Clip:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        info = stream_info(stream)
        frames, pts = [], []
        for index, frame in enumerate(container.decode(stream)):
            frames.append(yuv420_planes(frame, quarter_turns(frame.rotation)))
            pts.append(frame.pts if frame.pts is not None else index)
    return Clip(frames, pts, info.time_base, info.average_rate)


def encode(clip: Clip, preset: str, crf: int, work: Path) -> Encoded:
    path = work / f"{preset}-{crf}.mp4"
    first = clip.frames[0]
    start = time.perf_counter()
    with SegmentWriter(path, first.width, first.height, clip.time_base, clip.frame_rate, crf, preset) as writer:
        for planes, pts in zip(clip.frames, clip.pts, strict=True):
            writer.write(planes, pts)
    seconds = time.perf_counter() - start
    with av.open(str(path)) as container:
        decoded = (frame.to_ndarray(format="yuv420p")[: first.height] for frame in container.decode(video=0))
        psnr = [_luma_psnr(planes.y, y) for planes, y in zip(clip.frames, decoded, strict=False)]
    return Encoded(seconds * 1000 / len(clip.frames), path.stat().st_size, float(np.mean(psnr)))


def _luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default=PAIRS, help="preset:crf,... (the first is the baseline)")
    args = parser.parse_args()
    pairs = [(preset, int(crf)) for preset, crf in (pair.split(":") for pair in args.pairs.split(","))]
    bench_clip = standard_clips(Path("bench/out/clips"))[0][0]
    clips = [bench_clip, *sorted((SHARED / "data" / "videos").glob("*.*"))]
    print(f"default: {DEFAULT_VIDEO_ENCODER_PRESET} CRF {DEFAULT_CRF}; ratios to {pairs[0][0]} CRF {pairs[0][1]}")
    for path in clips:
        clip = decode_clip(path)
        print(f"\n{path.name}: {len(clip.frames)} frames, {clip.frames[0].width}x{clip.frames[0].height}")
        print(f"  {'preset':10s} {'CRF':>3s} {'ms/frame':>9s} {'time':>6s} {'MB':>7s} {'size':>6s} {'PSNR dB':>8s}")
        baseline: Encoded | None = None
        for preset, crf in pairs:
            with tempfile.TemporaryDirectory(prefix="video-encoder-") as work:
                result = encode(clip, preset, crf, Path(work))
            baseline = baseline or result
            time_ratio = result.ms_per_frame / baseline.ms_per_frame
            size_ratio = result.size_bytes / baseline.size_bytes
            print(
                f"  {preset:10s} {crf:3d} {result.ms_per_frame:9.1f} {time_ratio:5.2f}x "
                f"{result.size_bytes / 1e6:7.2f} {size_ratio:5.2f}x {result.psnr_db:8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
