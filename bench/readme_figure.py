"""The README's video figure: a short clip's frames before and after POST /blur_video, as one JPEG.

The picture is scikit-image's `skimage.data.astronaut()`: NASA's portrait of astronaut Eileen Collins, public
domain, shipped in scikit-image (nothing from the shared data directory goes into the figure). A 640x360, 25 fps
H.264 clip zooms in on her face (bench.video_clips.write_mp4), goes through the real stack (Redis, one face service,
one gateway: bench.video_bench.FaceBlurStack and run_faceblur) with the default options, and the same frames of the
input (top row) and of the anonymized MP4 (bottom row) are written side by side to docs/video_before_after.jpg.

    .venv/bin/python -m bench.readme_figure
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from bench.video_bench import REPO_ROOT, FaceBlurStack, run_faceblur
from bench.video_clips import read_frames, render_windows, write_mp4

FIGURE = REPO_ROOT / "docs" / "video_before_after.jpg"
FPS = 25
SECONDS = 2.4
SIZE = (640, 360)  # the clip's width, height
# Windows (x0, y0, width) over the 512x512 photo: the upper half at full width, then in on the face.
START = np.array([0.0, 0.0, 512.0])
END = np.array([86.0, 34.0, 288.0])
PICKS = (0.0, 0.5, 1.0)  # where in the clip the shown frames are, as a fraction of its length
TILE_WIDTH = 448
GAP = 8
JPEG_QUALITY = 85


def windows(frames: int) -> np.ndarray:
    """[frames, 3] windows from START to END, eased (slow at both ends)."""
    u = np.linspace(0.0, 1.0, frames)
    eased = u * u * (3 - 2 * u)
    return START + (END - START) * eased[:, None]


def make_clip(out: Path) -> int:
    """Write the clip (with a sine tone, as the benchmark clips have) and return its frame count."""
    frames = round(SECONDS * FPS)
    write_mp4(out, render_windows(data.astronaut(), windows(frames), SIZE), FPS, SIZE, frames / FPS)
    return frames


def pick(path: Path, indices: Sequence[int]) -> list[np.ndarray]:
    """The RGB frames of a video at `indices` (decoded in order)."""
    wanted = set(indices)
    chosen = {i: frame for i, frame in enumerate(read_frames(path)) if i in wanted}
    return [chosen[i] for i in indices]


def label(tile: np.ndarray, text: str) -> np.ndarray:
    """`text` in white on a dark box at the tile's top left (BGR tile, drawn in place)."""
    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, 0.55, 1
    (width, height), baseline = cv2.getTextSize(text, font, scale, thickness)
    cv2.rectangle(tile, (0, 0), (width + 12, height + baseline + 10), (0, 0, 0), thickness=-1)
    cv2.putText(tile, text, (6, height + 5), font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return tile


def figure(before: Sequence[np.ndarray], after: Sequence[np.ndarray], times: Sequence[float]) -> np.ndarray:
    """A BGR grid: `before` on the top row, `after` below, each tile TILE_WIDTH wide and labelled."""
    rows = []
    for name, frames in (("before", before), ("after", after)):
        tiles = []
        for frame, seconds in zip(frames, times, strict=True):
            height = round(frame.shape[0] * TILE_WIDTH / frame.shape[1])
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            tile = cv2.resize(bgr, (TILE_WIDTH, height), interpolation=cv2.INTER_AREA)
            tiles.append(label(tile, f"{name}, t = {seconds:.2f} s"))
        spacer = np.full((tiles[0].shape[0], GAP, 3), 255, np.uint8)
        rows.append(np.concatenate([part for tile in tiles for part in (tile, spacer)][:-1], axis=1))
    divider = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
    return np.concatenate([rows[0], divider, rows[1]], axis=0)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="readme-figure-") as work_dir:
        work = Path(work_dir)
        clip, output = work / "astronaut.mp4", work / "astronaut_blurred.mp4"
        frames = make_clip(clip)
        with FaceBlurStack(work / "stack", [(None, "2")]) as stack:
            seconds, result, tracks = run_faceblur(stack.gateway.url, clip, output)
        indices = [min(frames - 1, round(p * (frames - 1))) for p in PICKS]
        grid = figure(pick(clip, indices), pick(output, indices), [i / FPS for i in indices])
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(FIGURE), grid, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    faces = sum(len(boxes) for boxes in tracks)
    print(
        f"{frames} frames through /blur_video in {seconds:.1f} s (tracks {result['tracks']}, {faces} face-frames); "
        f"wrote {FIGURE.relative_to(REPO_ROOT)}: {grid.shape[1]}x{grid.shape[0]}, {FIGURE.stat().st_size} bytes"
    )


if __name__ == "__main__":
    main()
