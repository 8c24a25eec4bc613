"""Synthetic video clips with known faces: a 16:9 window panned and zoomed across WIDER photos.

`make_clip` moves a window across one photo (or several photos joined side by side at a common height) along a
smooth path through a few random waypoints (eased, so it speeds up and slows down), resizes the window to the
output size and transforms the photo's ground-truth face boxes (`invalid` ones skipped) into every frame. With
`out`, it writes an H.264 MP4 (libx264, CRF 18, GOP 25, yuv420p) with an AAC sine tone and a JSON of the boxes per
frame next to it; without, it returns the frames (RGB uint8) as an iterator. A GT face is
[x1, y1, x2, y2, face_index]: the box clipped to the frame (kept while >= KEPT_FRACTION of it is inside) and the
face's index in the clip.

    .venv/bin/python -m bench.video_clips --out bench/out/clips    # the clips of bench.video_tracking_sweep
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from .photos import SHARED

WIDER = SHARED / "data" / "wider_train"
MIN_FACE = 32  # px wide in the output: a face-frame that counts


@dataclass(frozen=True)
class Photo:
    path: Path
    boxes: np.ndarray  # valid GT boxes [N, 4] x1, y1, x2, y2 in the photo's pixels


def load_gt(root: Path = WIDER) -> dict:
    return json.loads((root / "gt.json").read_text())


def _valid_boxes(entry: dict) -> np.ndarray:
    """A GT entry's boxes [N, 4] (x1, y1, x2, y2), those marked invalid left out."""
    boxes = np.array(entry["boxes"], dtype=np.float64).reshape(-1, 4)
    invalid = np.array(entry.get("invalid", [0] * len(boxes)), dtype=bool).reshape(-1)
    return boxes[~invalid]


def photo(key: str, gt: dict, root: Path = WIDER) -> Photo:
    return Photo(root / "images" / key, _valid_boxes(gt[key]))


def pick_photos(gt: dict, count: int, seed: int, min_faces: int = 3, min_width: float = 26.0) -> list[str]:
    """`count` photos from different events, each with >= min_faces valid faces >= min_width px wide in the photo
    (>= MIN_FACE px once the window zooms in by ~1.25x or more)."""
    by_event: dict[str, list[str]] = {}
    for key, entry in sorted(gt.items()):
        boxes = _valid_boxes(entry)
        widths = boxes[:, 2] - boxes[:, 0]
        if (widths >= min_width).sum() >= min_faces and len(widths) <= 12:
            by_event.setdefault(key.split("/")[0], []).append(key)
    rng = np.random.default_rng(seed)
    events = sorted(by_event)
    chosen = rng.choice(len(events), size=min(count, len(events)), replace=False)
    return [by_event[events[i]][rng.integers(len(by_event[events[i]]))] for i in chosen]


def _canvas(photos: Sequence[Photo]) -> tuple[np.ndarray, np.ndarray]:
    """The photos joined side by side at the smallest photo's height (RGB), and their GT boxes in it."""
    images = [cv2.cvtColor(cv2.imread(str(p.path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for p in photos]
    height = min(image.shape[0] for image in images)
    parts, boxes, x = [], [], 0.0
    for image, p in zip(images, photos, strict=True):
        scale = height / image.shape[0]
        width = round(image.shape[1] * scale)
        parts.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA) if scale != 1 else image)
        boxes.append(p.boxes * scale + np.array([x, 0, x, 0]))
        x += width
    return np.concatenate(parts, axis=1), np.concatenate(boxes, axis=0)


def _window_path(canvas_wh: tuple[int, int], frames: int, aspect: float, rng: np.random.Generator) -> np.ndarray:
    """Window [frames, 3] (x0, y0, width) along eased segments through random waypoints, left to right."""
    cw, ch = canvas_wh
    max_w = min(cw, ch * aspect)
    waypoints = max(3, int(np.ceil(cw / max_w)) + 2)
    widths = rng.uniform(0.5, 0.95, waypoints) * max_w
    centres_x = np.linspace(0, 1, waypoints) * (cw - widths) + widths / 2
    points = []
    for w, cx in zip(widths, centres_x, strict=True):
        h = w / aspect
        cy = rng.uniform(h / 2, ch - h / 2)
        points.append((cx - w / 2, cy - h / 2, w))
    points = np.array(points)
    t = np.linspace(0, waypoints - 1, frames)
    segment = np.minimum(t.astype(int), waypoints - 2)
    u = t - segment
    eased = u * u * (3 - 2 * u)
    return points[segment] + (points[segment + 1] - points[segment]) * eased[:, None]


KEPT_FRACTION = 0.5  # a face cut by the frame edge is kept while this much of its box is inside


def _frame_boxes(boxes: np.ndarray, window: np.ndarray, size: tuple[int, int]) -> list[list[float]]:
    x0, y0, w = window
    s = size[0] / w
    out = (boxes - np.array([x0, y0, x0, y0])) * s
    clipped = np.clip(out, 0, [size[0], size[1], size[0], size[1]])
    area = np.prod(out[:, 2:] - out[:, :2], axis=1)
    inside = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), axis=1)
    keep = inside >= KEPT_FRACTION * np.maximum(area, 1e-9)
    return [
        [*(round(float(v), 2) for v in box), int(i)] for i, box in zip(np.flatnonzero(keep), clipped[keep], strict=True)
    ]


def render_windows(picture: np.ndarray, windows: np.ndarray, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """The frames of a camera over `picture`: each window [x0, y0, width] resized to `size` (width, height)."""
    for x0, y0, w in windows:
        s = size[0] / w
        matrix = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], dtype=np.float64)
        yield cv2.warpAffine(picture, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def make_clip(
    photos: Sequence[Photo],
    seconds: float,
    fps: int = 25,
    size: tuple[int, int] = (1280, 720),
    seed: int = 0,
    audio: bool = True,
    out: Path | None = None,
) -> tuple[Iterator[np.ndarray] | Path, list[list[list[float]]]]:
    """(frames or the written MP4's path, GT faces per frame) of a clip panning across `photos`.

    A GT face is [x1, y1, x2, y2, face_index]: its box clipped to the frame and the index of that face in the clip
    (the same face keeps its index in every frame)."""
    canvas, boxes = _canvas(photos)
    frames = max(1, round(seconds * fps))
    windows = _window_path((canvas.shape[1], canvas.shape[0]), frames, size[0] / size[1], np.random.default_rng(seed))
    gt = [_frame_boxes(boxes, window, size) for window in windows]

    if out is None:
        return render_windows(canvas, windows, size), gt
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(out, render_windows(canvas, windows, size), fps, size, frames / fps if audio else 0.0)
    out.with_suffix(".json").write_text(json.dumps({"fps": fps, "size": list(size), "frames": gt}))
    return out, gt


AUDIO_RATE = 48000
TONE_HZ = 440.0


def write_mp4(path: Path, frames: Iterator[np.ndarray], fps: int, size: tuple[int, int], audio_s: float) -> None:
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.gop_size = fps
        video.options = {"crf": "18", "g": str(fps), "preset": "veryfast"}
        sound = None
        if audio_s > 0:
            sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for index, rgb in enumerate(frames):
            _mux(container, video, av.VideoFrame.from_ndarray(rgb, format="rgb24"), index, fps)
        container.mux(video.encode())
        if sound is not None:
            samples = round(audio_s * AUDIO_RATE)
            chunk = 1024
            for start in range(0, samples, chunk):
                n = min(chunk, samples - start)
                t = (np.arange(start, start + n) / AUDIO_RATE).astype(np.float64)
                tone = (0.2 * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)[None, :]
                frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                frame.sample_rate = AUDIO_RATE
                _mux(container, sound, frame, start, AUDIO_RATE)
            container.mux(sound.encode())


def _mux(container, stream, frame, pts: int, rate: int) -> None:
    """Encode one frame, stamped at ``pts`` in ticks of 1/``rate`` s, into its stream and the file."""
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    container.mux(stream.encode(frame))


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """The RGB frames of a video, decoded with PyAV."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


# The clips of the sweep: (name, photos per clip, seconds, seed).
CLIPS = [("single_a", 1, 7.0, 1), ("single_b", 1, 7.0, 2), ("joined", 3, 8.0, 3)]


def standard_clips(out_dir: Path, gt: dict | None = None) -> list[tuple[Path, list]]:
    """Write (or reuse) the sweep's clips; photos come from distinct events, chosen with a fixed seed."""
    gt = gt or load_gt()
    keys = pick_photos(gt, sum(n for _, n, _, _ in CLIPS), seed=7)
    clips, used = [], 0
    for name, count, seconds, seed in CLIPS:
        path = Path(out_dir) / f"{name}.mp4"
        chosen = keys[used : used + count]
        used += count
        if path.is_file() and path.with_suffix(".json").is_file():
            clips.append((path, json.loads(path.with_suffix(".json").read_text())["frames"]))
            continue
        written, boxes = make_clip([photo(k, gt) for k in chosen], seconds, seed=seed, out=path)
        clips.append((written, boxes))
        print(f"{path}: {', '.join(chosen)}")
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out/clips"))
    args = parser.parse_args()
    for path, boxes in standard_clips(args.out):
        faces = sum(1 for frame in boxes for b in frame if b[2] - b[0] >= MIN_FACE)
        print(f"{path}: {len(boxes)} frames, {faces} face-frames >= {MIN_FACE} px")


if __name__ == "__main__":
    main()
