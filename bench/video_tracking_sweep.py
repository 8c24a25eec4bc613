"""Choose detect_every by measurement: how many face-frames leak through tracking when the detector skips frames.

The real detector (fast preset, one thread) runs once on every frame of the clips of bench.video_clips; the
detections are cached (bench/out/video_detections.npz). Then, for each detect_every in 1..6, the detections of the
frames the detector would have run on are tracked (gateway_service.video.tracking) and every face-frame (a GT face
>= 32 px wide in one frame) is tested for a leak.

Leak test (geometric): the face's central region is the ellipse inscribed in its GT box, sampled on a 16 x 16 grid
(the grid points inside that ellipse). A tracked face hides the ellipse inscribed in its box scaled by HIDE_SCALE
(1.4) around its centre. The face-frame is hidden when at least COVER (90 %) of the sample points lie inside the
union of the hidden ellipses of that frame (overlapping blurs hide together), else it leaks.

Reported per detect_every: leak rate over all face-frames; over the face-frames of faces the detector found at least
once on the frames it ran on (a detection with IoU >= FOUND_IOU); the longest run of consecutive leaked face-frames
of one found face; the mean fraction of the frame hidden (what over-blurring costs); the detector cost per frame
(mean pass / detect_every) and the end-to-end frame rate on 2 cores with CODEC_MS of decoding + encoding per frame.

    PYTHONPATH=. .venv/bin/python -m bench.video_tracking_sweep
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from faceblur_proto.vocabulary import DEFAULT_BOX_SCALE
from gateway_service.video.tracking import pairwise_iou, track_count, track_faces

from .photos import SHARED
from .video_clips import MIN_FACE, read_frames, standard_clips

MODEL = SHARED / "models" / "yolov8n-face_int8.tflite"
HIDE_SCALE = DEFAULT_BOX_SCALE
COVER = 0.9
GRID = 16
FOUND_IOU = 0.3
CODEC_MS = 25.0
CORES = 2
FPS = 25


def detect_clips(clips: list[tuple[Path, list]], cache: Path, model: Path) -> tuple[dict[str, dict], float]:
    """{clip name: {frame: [N, 5] detections}} for every frame, and the mean ms per detector pass (cached)."""
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        found: dict[str, dict] = {}
        for key in data.files:
            if key == "ms_per_pass":
                continue
            name, frame = key.rsplit(":", 1)
            found.setdefault(name, {})[int(frame)] = data[key]
        return found, float(data["ms_per_pass"])
    from face_detection_service.detection.loader import load_detector
    from face_detection_service.detection.presets import PRESETS

    detector = load_detector(Path(model), threads=1, with_centerface=False)
    arrays: dict[str, np.ndarray] = {}
    spent, passes = 0.0, 0
    for path, _ in clips:
        for index, rgb in enumerate(read_frames(path)):
            start = time.perf_counter()
            faces = detector.detect(rgb, PRESETS["fast"], None)
            spent += time.perf_counter() - start
            passes += 1
            boxes = np.asarray(faces.boxes, np.float32).reshape(-1, 4)
            scores = np.asarray(faces.scores, np.float32).reshape(-1, 1)
            arrays[f"{path.stem}:{index}"] = np.concatenate([boxes, scores], axis=1)
        print(f"detected {path.name}: {passes} passes so far, {1000 * spent / passes:.0f} ms a pass", flush=True)
    ms = 1000 * spent / max(passes, 1)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, ms_per_pass=np.float64(ms), **arrays)
    return detect_clips(clips, cache, model)


def _ellipse_samples(box: np.ndarray) -> np.ndarray:
    """Grid points [K, 2] inside the ellipse inscribed in box."""
    u = (np.arange(GRID) + 0.5) / GRID * 2 - 1
    gx, gy = np.meshgrid(u, u)
    inside = gx**2 + gy**2 <= 1
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    return np.stack([cx + gx[inside] * rx, cy + gy[inside] * ry], axis=1)


def covered_fraction(gt_box: np.ndarray, hidden_boxes: np.ndarray) -> float:
    """Fraction of the GT box's central ellipse inside the union of the hidden ellipses of hidden_boxes [M, 4]."""
    if not len(hidden_boxes):
        return 0.0
    points = _ellipse_samples(gt_box)
    centre = (hidden_boxes[:, :2] + hidden_boxes[:, 2:]) / 2
    radii = np.maximum((hidden_boxes[:, 2:] - hidden_boxes[:, :2]) / 2 * HIDE_SCALE, 1e-6)
    norm = ((points[None, :, :] - centre[:, None, :]) / radii[:, None, :]) ** 2
    inside = (norm.sum(axis=-1) <= 1).any(axis=0)
    return float(inside.mean())


def hidden_fraction(hidden_boxes: np.ndarray, size: tuple[int, int] = (1280, 720), step: int = 8) -> float:
    """Fraction of the frame inside the union of the hidden ellipses (sampled every `step` px): the cost of blur."""
    if not len(hidden_boxes):
        return 0.0
    xs, ys = np.meshgrid(np.arange(step / 2, size[0], step), np.arange(step / 2, size[1], step))
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    centre = (hidden_boxes[:, :2] + hidden_boxes[:, 2:]) / 2
    radii = np.maximum((hidden_boxes[:, 2:] - hidden_boxes[:, :2]) / 2 * HIDE_SCALE, 1e-6)
    inside = np.zeros(len(points), bool)
    for c, r in zip(centre, radii, strict=True):
        inside |= (((points - c) / r) ** 2).sum(axis=1) <= 1
    return float(inside.mean())


def evaluate(gt: list, detections: dict[int, np.ndarray], detect_every: int) -> dict:
    """Leaks of one clip when the detector runs on every detect_every-th frame."""
    frames = len(gt)
    ran = {f: detections[f] for f in range(0, frames, detect_every) if f in detections}
    tracks = track_faces(ran, frames, detect_every, FPS)
    found: set[int] = set()
    for f, faces in ran.items():
        truth = np.array([g[:4] for g in gt[f]], np.float64).reshape(-1, 4)
        if len(truth) and len(faces):
            hits = pairwise_iou(truth, faces[:, :4].astype(np.float64)).max(axis=1) >= FOUND_IOU
            found |= {int(gt[f][i][4]) for i in np.flatnonzero(hits)}
    leaks: dict[int, list[bool]] = {}
    hidden_area = 0.0
    for f in range(frames):
        hidden = np.array([t.box for t in tracks[f]], np.float64).reshape(-1, 4)
        hidden_area += hidden_fraction(hidden)
        for g in gt[f]:
            box = np.array(g[:4], np.float64)
            if box[2] - box[0] < MIN_FACE:
                continue
            leaks.setdefault(int(g[4]), []).append(covered_fraction(box, hidden) < COVER)
    total = sum(len(v) for v in leaks.values())
    leaked = sum(sum(v) for v in leaks.values())
    found_total = sum(len(v) for k, v in leaks.items() if k in found)
    found_leaked = sum(sum(v) for k, v in leaks.items() if k in found)
    longest = 0
    for k, series in leaks.items():
        if k not in found:
            continue
        run = 0
        for leak in series:
            run = run + 1 if leak else 0
            longest = max(longest, run)
    return {
        "face_frames": total,
        "leaked": leaked,
        "found_face_frames": found_total,
        "found_leaked": found_leaked,
        "longest_run": longest,
        "tracks": track_count(tracks),
        "hidden_area": hidden_area / max(frames, 1),
    }


def sweep(clips: list[tuple[Path, list]], detections: dict[str, dict], ms_per_pass: float, settings: range) -> list:
    rows = []
    for every in settings:
        per_clip = [evaluate(gt, detections[path.stem], every) for path, gt in clips]
        total = {k: sum(c[k] for c in per_clip) for k in per_clip[0] if k not in ("longest_run", "hidden_area")}
        cost = ms_per_pass / every
        rows.append(
            {
                "detect_every": every,
                "leak_all": total["leaked"] / max(total["face_frames"], 1),
                "leak_found": total["found_leaked"] / max(total["found_face_frames"], 1),
                "longest_run": max(c["longest_run"] for c in per_clip),
                "tracks": total["tracks"],
                "hidden_area": float(np.mean([c["hidden_area"] for c in per_clip])),
                "detector_ms": cost,
                "fps_2_cores": CORES * 1000 / (cost + CODEC_MS),
                "per_clip_leak": [round(c["leaked"] / max(c["face_frames"], 1), 4) for c in per_clip],
            }
        )
    return rows


def print_table(rows: list, face_frames: int) -> None:
    print(f"face-frames (GT >= {MIN_FACE} px): {face_frames}")
    print(
        "every | leak all | leak found | longest run | tracks | frame hidden | detector ms/frame | fps on 2 cores "
        "| leak per clip"
    )
    for r in rows:
        print(
            f"{r['detect_every']:5d} | {100 * r['leak_all']:7.2f}% | {100 * r['leak_found']:9.2f}% | "
            f"{r['longest_run']:11d} | {r['tracks']:6d} | {100 * r['hidden_area']:11.1f}% | "
            f"{r['detector_ms']:17.1f} | {r['fps_2_cores']:14.1f} | "
            f"{r['per_clip_leak']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=Path("bench/out/clips"))
    parser.add_argument("--cache", type=Path, default=Path("bench/out/video_detections.npz"))
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    clips = standard_clips(args.clips)
    detections, ms = detect_clips(clips, args.cache, args.model)
    rows = sweep(clips, detections, ms, range(1, 7))
    face_frames = sum(1 for _, gt in clips for frame in gt for g in frame if g[2] - g[0] >= MIN_FACE)
    print_table(rows, face_frames)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
