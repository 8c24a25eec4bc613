"""Per-image latency of this service's detector next to Ultralytics on the same weights, in one run.

    python bench/model_bench.py [--images 40] [--model ../shared/models/yolov8n-face_int8.tflite] [--onnx F] [--pt F]

Images are decoded once up front, so only detection is timed: letterbox, inference, decode, NMS. Both sides run
image by image, interleaved, so machine noise hits them alike. Ultralytics uses `YOLO(model, task="pose").predict`
(its LiteRT backend runs max(1, cores - 1) threads); this service's detector is timed with 1 and 2 threads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.photos import SHARED, sample_photo_paths  # noqa: E402
from face_detection_service.detection.loader import load_detector  # noqa: E402
from face_detection_service.detection.presets import get_preset  # noqa: E402

WARMUP_RUNS = 3


def bench_images(count: int) -> list[tuple[str, np.ndarray]]:
    return [(path.name, cv2.imread(str(path))) for path in sample_photo_paths(count)]


def time_calls(function, images: list[np.ndarray]) -> list[float]:
    for image in images[:WARMUP_RUNS]:
        function(image)
    seconds = []
    for image in images:
        start = time.perf_counter()
        function(image)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolov8n-face_int8.tflite")
    parser.add_argument("--onnx", type=Path, help="also time this .onnx export (and Ultralytics on it)")
    parser.add_argument("--pt", type=Path, help="also time these .pt weights (and Ultralytics on them)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per configuration")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench" / "out" / "model_bench.json")
    args = parser.parse_args()

    from ultralytics import YOLO

    images = bench_images(args.images)
    rgb_images = [cv2.cvtColor(image, cv2.COLOR_BGR2RGB) for _, image in images]
    bgr_images = [image for _, image in images]
    fast, balanced = get_preset("fast"), get_preset("balanced")
    print(f"{len(images)} images, {os.cpu_count()} cores; timing detection only (images decoded up front)\n")

    rows = []
    for weights in [p for p in (args.model, args.onnx, args.pt) if p]:
        ultralytics_model = YOLO(str(weights), task="pose")
        predict = lambda im, model=ultralytics_model: model.predict(im, conf=0.25, imgsz=640, verbose=False)  # noqa: E731
        candidates = {}
        for threads in (1, 2):
            detector = load_detector(weights, threads, with_centerface=False)
            candidates[f"faceblur fast, {threads} thread(s)"] = (lambda d: lambda im: d.detect(im, fast))(detector)
        candidates["faceblur balanced, 2 threads"] = lambda im, d=detector: d.detect(im, balanced)
        totals: dict[str, list[float]] = {name: [] for name in ["ultralytics", *candidates]}
        for _ in range(args.rounds):
            totals["ultralytics"] += time_calls(predict, bgr_images)
            for name, function in candidates.items():
                totals[name] += time_calls(function, rgb_images)
        reference = statistics.mean(totals["ultralytics"])
        for name, seconds in totals.items():
            mean = statistics.mean(seconds)
            rows.append(
                {
                    "weights": weights.name,
                    "detector": name,
                    "mean_ms": mean * 1000,
                    "p50_ms": statistics.median(seconds) * 1000,
                    "speed_vs_ultralytics": reference / mean,
                }
            )

    print(f"{'weights':28} {'detector':30} {'mean ms':>8} {'p50 ms':>8} {'ultralytics/this':>17}")
    for row in rows:
        print(
            f"{row['weights']:28} {row['detector']:30} {row['mean_ms']:8.1f} {row['p50_ms']:8.1f} "
            f"{row['speed_vs_ultralytics']:16.2f}x"
        )
    print("\nultralytics/this > 1 means this service's detector is faster on the same weights and images.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"images": len(images), "cores": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
