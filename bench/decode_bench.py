"""Detect-only jobs on big JPEGs: the decoder's reduced-size decode against a full-resolution decode.

    python bench/decode_bench.py [--repeats 10]

A detect job never needs more pixels than its preset looks at (`Preset.max_side`), so the service asks libjpeg
for a 1/2, 1/4 or 1/8 size decode (`jobs.reduced_decode_factor`). This prints, for a 12-megapixel JPEG made
from the reference photo, the time of both paths per preset and whether they find the same faces.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from face_detection_service.detection.geometry import iou_matrix  # noqa: E402
from face_detection_service.detection.loader import load_detector  # noqa: E402
from face_detection_service.detection.presets import PRESETS  # noqa: E402
from face_detection_service.imaging import decode, read_header, to_rgb8  # noqa: E402
from face_detection_service.jobs import JobSpec, run_job  # noqa: E402

SHARED = Path(os.environ.get("FACEBLUR_SHARED", REPO_ROOT.parent / "shared"))


def twelve_megapixel_jpeg() -> bytes:
    photo = cv2.imread(str(SHARED / "data" / "reference" / "test.jpg"))
    big = cv2.resize(photo, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    return cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def full_resolution_detect(data: bytes, detector, preset) -> np.ndarray:
    header = read_header(data, 10**9)
    return detector.detect(to_rgb8(decode(data, header)), preset).sorted_by_position().boxes


def median_seconds(function, repeats: int) -> float:
    function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    detector = load_detector(SHARED / "models" / "yolov8n-face_int8.tflite", 2)
    data = twelve_megapixel_jpeg()
    print(f"12 MP JPEG (4000x3000, {len(data) / 2**20:.1f} MiB), 2 threads, median of {args.repeats}\n")
    print(
        f"{'preset':11} {'full decode ms':>14} {'reduced ms':>10} {'ratio':>6} "
        f"{'faces full/reduced':>19} {'min IoU':>8}"
    )
    for preset in PRESETS.values():
        spec = JobSpec(blur=False, preset=preset)
        full = median_seconds(lambda preset=preset: full_resolution_detect(data, detector, preset), args.repeats)
        reduced = median_seconds(lambda spec=spec: run_job(data, spec, detector, 10**9), args.repeats)
        full_boxes = full_resolution_detect(data, detector, preset)
        reduced_boxes = run_job(data, spec, detector, 10**9).faces.boxes
        overlap = iou_matrix(full_boxes, reduced_boxes).max(axis=1).min() if len(full_boxes) else 1.0
        print(
            f"{preset.name:11} {full * 1000:14.0f} {reduced * 1000:10.0f} {reduced / full:6.2f} "
            f"{len(full_boxes):>9}/{len(reduced_boxes):<9} {overlap:8.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
