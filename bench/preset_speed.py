"""Seconds per photo of detection configurations, measured side by side: every photo goes through each
configuration in turn, in an order that alternates (A B, then B A), so load from other work on a shared machine
falls on all of them alike.

    .venv/bin/python -m bench.preset_speed --configs 'was/yolov8n-face/balanced,yolov8n-face/balanced' --stride 4
    .venv/bin/python -m bench.preset_speed --datasets 'wider_train@90' --stride 8

Prints each configuration's mean and median seconds per photo and its speed relative to the first one (its
seconds / this one's: 0.8 means this one takes 1.25 times as long).
"""

from __future__ import annotations

import argparse
import fnmatch
import platform
import time

import cv2
import numpy as np

from .common import load_dataset, subset
from .detectors import all_configs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="wider_train,face_mask")
    parser.add_argument("--configs", default="was/yolov8n-face/balanced,yolov8n-face/balanced")
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    names = [name.strip() for name in args.configs.split(",") if name.strip()]
    known = {config.name: config for config in all_configs()}
    configs = [known[n] for pattern in names for n in known if fnmatch.fnmatchcase(n, pattern)]
    detectors = [config.build(args.threads) for config in configs]
    print(f"{platform.processor() or platform.machine()}, {args.threads} threads per model")
    for dataset_name in args.datasets.split(","):
        dataset = subset(load_dataset(dataset_name.strip()), args.stride, None, args.offset)
        seconds = np.zeros((len(dataset.samples), len(configs)))
        for index, sample in enumerate(dataset.samples):
            image_bgr = sample.read_bgr()
            image_rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
            order = range(len(configs)) if index % 2 == 0 else reversed(range(len(configs)))
            for which in order:
                if index == 0:
                    detectors[which](image_bgr, image_rgb)  # warm-up
                started = time.perf_counter()
                detectors[which](image_bgr, image_rgb)
                seconds[index, which] = time.perf_counter() - started
        base = seconds[:, 0].sum()
        print(f"\n{dataset.name}: {len(dataset.samples)} photos")
        print("| configuration | s/photo (mean) | s/photo (median) | speed vs first |")
        print("| --- | ---: | ---: | ---: |")
        for which, config in enumerate(configs):
            column = seconds[:, which]
            print(f"| {config.name} | {column.mean():.3f} | {np.median(column):.3f} | {base / column.sum():.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
