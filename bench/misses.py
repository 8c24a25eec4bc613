"""What a configuration still misses: recall by sharpness, misses by cause, and a contact sheet of missed faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .common import Dataset, Evaluation, _iou

CELL = 96  # px per contact-sheet cell
COLUMNS = 16
MAX_CELLS = 192
CONTEXT = 1.0  # crop this much extra around the face on each side, as a fraction of its size
LOOSE_IOU = 0.3  # a detection this close (but under 0.5) means "found, badly placed", not "not seen at all"
SHARPNESS_SIDE = 24  # faces are compared for blur on a copy this size, so large faces do not look sharper


def sharpness(image_gray: np.ndarray, box: np.ndarray) -> float:
    """Variance of the Laplacian of the face resized to SHARPNESS_SIDE px: low means blurred (or featureless)."""
    x1, y1, x2, y2 = np.round(box).astype(int)
    face = image_gray[max(y1, 0) : max(y2, y1 + 1), max(x1, 0) : max(x2, x1 + 1)]
    if face.size == 0:
        return 0.0
    face = cv2.resize(face, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


def face_table(dataset: Dataset, evaluation: Evaluation, threshold: float) -> list[dict]:
    """Every valid face: its width, sharpness, whether it was found, and the best overlap of a kept detection."""
    faces = []
    for sample, match in zip(dataset.samples, evaluation.per_image, strict=True):
        gray = sample.read_bgr(cv2.IMREAD_GRAYSCALE)
        kept = match.boxes[match.scores >= threshold]
        for index in np.flatnonzero(~sample.invalid):
            box = sample.boxes[index]
            faces.append(
                {
                    "sample": sample,
                    "box": box,
                    "width": float(box[2] - box[0]),
                    "sharpness": sharpness(gray, box),
                    "found": bool(match.face_match_score[index] >= threshold),
                    "best_iou": float(_iou(box[None], kept).max()) if len(kept) else 0.0,
                }
            )
    return faces


def describe(faces: list[dict]) -> dict:
    """Recall by sharpness tercile, and how the misses split by size, placement and blur."""
    sharp = np.array([f["sharpness"] for f in faces])
    found = np.array([f["found"] for f in faces])
    widths = np.array([f["width"] for f in faces])
    missed = ~found
    low, high = np.percentile(sharp, [100 / 3, 200 / 3]) if len(faces) else (0.0, 0.0)
    terciles = {
        "blurred (lowest third)": sharp < low,
        "middle third": (sharp >= low) & (sharp < high),
        "sharp (highest third)": sharp >= high,
    }
    return {
        "faces": len(faces),
        "missed": int(missed.sum()),
        "recall_by_sharpness": {name: float(found[m].mean()) if m.any() else None for name, m in terciles.items()},
        "missed_under_16px": int((missed & (widths < 16)).sum()),
        "missed_16_32px": int((missed & (widths >= 16) & (widths < 32)).sum()),
        "missed_32px_up": int((missed & (widths >= 32)).sum()),
        "missed_but_boxed_loosely": int(sum(1 for f in faces if not f["found"] and f["best_iou"] >= LOOSE_IOU)),
        "missed_blurred": int((missed & (sharp < low)).sum()),
    }


def write_contact_sheet(faces: list[dict], path: Path, min_width: float = 0.0) -> None:
    """Crops of missed faces (with context) from smallest to largest, labelled with their width in px.

    Red frame: nothing found there; orange: a detection overlaps but too loosely (IoU 0.3-0.5) to count.
    """
    misses = [f for f in faces if not f["found"] and f["width"] >= min_width]
    rng = np.random.default_rng(0)
    shown = sorted((misses[i] for i in rng.permutation(len(misses))[:MAX_CELLS]), key=lambda m: m["width"])
    cells = [_cell(miss["sample"].read_bgr(cv2.IMREAD_COLOR), miss) for miss in shown]
    blank = np.full((CELL, CELL, 3), 255, np.uint8)
    rows = [cells[i : i + COLUMNS] for i in range(0, len(cells), COLUMNS)]
    sheet = np.vstack([np.hstack(row + [blank] * (COLUMNS - len(row))) for row in rows]) if rows else blank
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_JPEG_QUALITY, 80])


def _cell(image: np.ndarray, miss: dict) -> np.ndarray:
    x1, y1, x2, y2 = miss["box"]
    side = max(x2 - x1, y2 - y1) * (1 + 2 * CONTEXT)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = round(cx - side / 2), round(cy - side / 2)
    size = max(round(side), 4)
    padded = cv2.copyMakeBorder(image, size, size, size, size, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    crop = padded[top + size : top + 2 * size, left + size : left + 2 * size]
    scale = CELL / size
    cell = cv2.resize(crop, (CELL, CELL), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    corner_1 = (int((x1 - left) * scale), int((y1 - top) * scale))
    corner_2 = (int((x2 - left) * scale), int((y2 - top) * scale))
    colour = (0, 160, 255) if miss["best_iou"] >= LOOSE_IOU else (0, 0, 255)
    cv2.rectangle(cell, corner_1, corner_2, colour, 1)
    label = f"{miss['width']:.0f}px"
    cv2.putText(cell, label, (2, CELL - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 2)
    cv2.putText(cell, label, (2, CELL - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    return cell
