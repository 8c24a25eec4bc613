"""Helpers to score merge rules over a looks cache (bench/looks_cache.py). Exploration only."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from face_detection_service.detection.fusion import Look, Proposal, fuse, vote
from face_detection_service.detection.types import Detections

from .common import _iou, evaluate, load_dataset, subset

SECOND_LOOK = (0.1, 0.5)


def load(path: str | Path):
    blob = pickle.load(open(path, "rb"))
    out = {}
    for name, entries in blob["cache"].items():
        dataset = subset(load_dataset(name), blob["stride"], blob["limit"], blob["offset"])
        assert [s.name for s in dataset.samples] == [e["name"] for e in entries]
        out[name] = (dataset, entries)
    return out


def balanced(e: dict, whole: Detections | None = None, second_look=SECOND_LOOK, extra_looks=()) -> Detections:
    """The balanced preset rebuilt from cached looks (before its threshold)."""
    whole = e["yolo_r0"] if whole is None else whole
    if not e["tiles"]:
        return whole
    per_tile = [t[1] for t in e["tiles"]]
    looks = [Look(whole), Look(Detections.concat(per_tile), max_face=e["max_tile_face"]), *extra_looks]
    low, high = second_look
    unsure = [t for t in e["tiles"] if ((t[1].scores >= low) & (t[1].scores < high)).any()]
    if unsure:
        looks.append(
            Look(
                Detections.concat([t[2] for t in unsure]),
                max_face=e["max_tile_face"],
                regions=tuple(t[0] for t in unsure),
            )
        )
    return vote(looks)


def score(dataset, dets: list[Detections], threshold: float, verbose=True, label=""):
    ev = evaluate(dataset.samples, [(d.boxes, d.scores) for d in dets])
    p, r = ev.precision_recall(threshold)
    large = ev.face_width >= 32
    r32 = float((ev.face_match_score[large] >= threshold).mean())
    miss32 = int((ev.face_match_score[large] < threshold).sum())
    small = ev.face_width < 16
    r16 = float((ev.face_match_score[small] >= threshold).mean())
    found = int((ev.face_match_score >= threshold).sum())
    if verbose:
        print(
            f"{label:50s} {dataset.name:11s} thr {threshold:.2f} P {p:.3f} R {r:.3f} R>=32 {r32:.4f} "
            f"(miss {miss32}/{int(large.sum())}) R<16 {r16:.3f} found {found}"
        )
    return {"P": p, "R": r, "R32": r32, "miss32": miss32, "found": found, "ev": ev}


def missed_large(dataset, dets, threshold):
    """(sample index, face index, width, best IoU of a kept detection) of each missed face >= 32 px."""
    rows = []
    for i, (sample, d) in enumerate(zip(dataset.samples, dets, strict=True)):
        kept = d.boxes[d.scores >= threshold]
        ev = evaluate([sample], [(d.boxes, d.scores)])
        widths = sample.boxes[:, 2] - sample.boxes[:, 0]
        valid = np.flatnonzero(~sample.invalid)
        for j, fi in enumerate(valid):
            if widths[fi] >= 32 and ev.face_match_score[j] < threshold:
                best = float(_iou(sample.boxes[fi : fi + 1], kept).max()) if len(kept) else 0.0
                rows.append((i, int(fi), float(widths[fi]), best))
    return rows


def mosaic_looks(datasets, turns=(0, 1, 2, 3), threads=2, side_scale=1.0, min_score=0.03):
    """Per photo: the mosaic pass's faces per turn (image pixels), computed now (one model pass per photo)."""
    import cv2

    from face_detection_service.detection.detector import _resize_to
    from face_detection_service.detection.loader import load_detector
    from face_detection_service.detection.turns import mosaic, split_mosaic

    from .detectors import YOLO_MODEL

    detector = load_detector(YOLO_MODEL, threads, with_centerface=False)
    out = {}
    for name, (dataset, entries) in datasets.items():
        rows = []
        for sample in dataset.samples:
            image = cv2.cvtColor(cv2.imread(str(sample.path)), cv2.COLOR_BGR2RGB)
            h, w = image.shape[:2]
            shrink = min(1.0, 1280 / max(w, h))
            small = _resize_to(image, round(w * shrink), round(h * shrink))
            canvas, cells = mosaic(small, turns, 640)
            found = detector.primary.detect(canvas, min_score)
            parts = split_mosaic(found, cells, small.shape[1], small.shape[0])
            back = np.array([w / small.shape[1], h / small.shape[0]], np.float32)
            rows.append({c.quarter_turns: p.rescaled(back, w, h) for c, p in zip(cells, parts)})
        out[name] = rows
    return out
