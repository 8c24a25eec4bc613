"""Fit the map from CenterFace's scores onto YOLOv8-face's (fusion.CENTERFACE_TO_YOLO).

    .venv/bin/python -m bench.calibrate --stride 4

Platt scaling: for each model, a logistic fit of P(true positive | score) = sigmoid(a * logit(score) + b) on its
own WIDER FACE detections (YOLO on the whole image, CenterFace at the scale max_recall runs it). A CenterFace score
then maps to the YOLO score with the same fitted probability: logit(y) = (a_c * logit(c) + b_c - b_y) / a_y.
Two numbers, fitted once; they only need refitting when either model changes.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from face_detection_service.detection.detector import FaceDetector
from face_detection_service.detection.loader import load_detector
from face_detection_service.detection.presets import PRESETS

from .common import IGNORED, TP, evaluate, load_dataset, subset
from .detectors import YOLO_MODEL

MIN_SCORE = 0.1  # below this both models' detections are nearly all false; they would dominate the fit


def platt(scores: np.ndarray, is_true: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood (a, b) of P(true | s) = sigmoid(a * logit(s) + b), by Newton's method."""
    clipped = np.clip(scores.astype(np.float64), 1e-6, 1 - 1e-6)
    x = np.log(clipped / (1 - clipped))
    y = is_true.astype(np.float64)
    a, b = 1.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * x + b)))
        gradient = np.array([((p - y) * x).sum(), (p - y).sum()])
        w = p * (1 - p)
        hessian = np.array([[(w * x * x).sum(), (w * x).sum()], [(w * x).sum(), w.sum()]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def labelled_scores(samples, detections) -> tuple[np.ndarray, np.ndarray]:
    evaluation = evaluate(samples, detections, keep_matches=True)
    scores = np.concatenate([m.scores[m.labels != IGNORED] for m in evaluation.per_image])
    is_true = np.concatenate([m.labels[m.labels != IGNORED] == TP for m in evaluation.per_image])
    keep = scores >= MIN_SCORE
    return scores[keep], is_true[keep]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)

    dataset = subset(load_dataset("wider_train"), args.stride)
    detector: FaceDetector = load_detector(YOLO_MODEL, args.threads)
    preset = PRESETS["max_recall"]
    yolo, centerface = [], []
    for sample in dataset.samples:
        image = cv2.cvtColor(cv2.imread(str(sample.path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        height, width = image.shape[:2]
        found = detector.primary.detect(image, MIN_SCORE)
        yolo.append((found.boxes, found.scores))
        plan = detector.tile_plan(width, height, preset)
        scale = plan.scale if plan is not None else 1.0
        view = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
        found = detector.centerface.detect(view, MIN_SCORE)
        centerface.append((found.boxes / np.float32(scale), found.scores))

    a_y, b_y = platt(*labelled_scores(dataset.samples, yolo))
    a_c, b_c = platt(*labelled_scores(dataset.samples, centerface))
    print(f"YOLO:       P(true) = sigmoid({a_y:.3f} * logit(s) + {b_y:.3f})")
    print(f"CenterFace: P(true) = sigmoid({a_c:.3f} * logit(s) + {b_c:.3f})")
    print(f"CENTERFACE_TO_YOLO = LogitLinear(slope={a_c / a_y:.2f}, intercept={(b_c - b_y) / a_y:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
