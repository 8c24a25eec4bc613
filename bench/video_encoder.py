"""Choose the video output's x264 speed preset and CRF by measurement: encode time, file size and PSNR.

Every frame of each clip is decoded once into memory, then encoded by each (preset, CRF) pair the way the face
service writes segments (libx264, yuv420p, no B-frames, one thread: one worker per core), and decoded again to
score luma PSNR against the input. Ratios are to the first pair, measured in the same run.

Clips: the first bench clip (bench/video_clips.py, a 720p pan over a WIDER FACE photo) and every real clip in
../shared/data/videos.

    PYTHONPATH=. .venv/bin/python -m bench.video_encoder [--pairs veryfast:20,superfast:21,...]
"""

from __future__ import annotations

import argparse
import io
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from faceblur_proto.vocabulary import DEFAULT_CRF, DEFAULT_VIDEO_ENCODER_PRESET

from .photos import SHARED
from .video_clips import standard_clips

PAIRS = f"veryfast:20,{DEFAULT_VIDEO_ENCODER_PRESET}:{DEFAULT_CRF},superfast:20,superfast:22,ultrafast:21,faster:20"


@dataclass(frozen=True)
class Encoded:
    ms_per_frame: float
    size_bytes: int
    psnr_db: float


def decode_planes(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame as one yuv420p array (luma rows, then chroma), and the stream's frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 25)
        planes = [frame.to_ndarray(format="yuv420p") for frame in container.decode(stream)]
    return planes, rate


def encode(planes: list[np.ndarray], rate: float, preset: str, crf: int) -> Encoded:
    height, width = planes[0].shape[0] * 2 // 3, planes[0].shape[1]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as output:
        options = {"crf": str(crf), "preset": preset, "bf": "0", "x264-params": "bframes=0"}
        stream = output.add_stream("libx264", rate=round(rate), options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        start = time.perf_counter()
        for index, array in enumerate(planes):
            frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
        seconds = time.perf_counter() - start
    size = len(buffer.getvalue())
    buffer.seek(0)
    with av.open(buffer) as container:
        decoded = (frame.to_ndarray(format="yuv420p") for frame in container.decode(video=0))
        psnr = [_luma_psnr(a[:height], b[:height]) for a, b in zip(planes, decoded, strict=False)]
    return Encoded(seconds * 1000 / len(planes), size, float(np.mean(psnr)))


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
    for clip in clips:
        planes, rate = decode_planes(clip)
        height, width = planes[0].shape[0] * 2 // 3, planes[0].shape[1]
        print(f"\n{clip.name}: {len(planes)} frames, {width}x{height}")
        print(f"  {'preset':10s} {'CRF':>3s} {'ms/frame':>9s} {'time':>6s} {'MB':>7s} {'size':>6s} {'PSNR dB':>8s}")
        baseline: Encoded | None = None
        for preset, crf in pairs:
            result = encode(planes, rate, preset, crf)
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
