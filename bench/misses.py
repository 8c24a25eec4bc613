"""What a configuration still misses: counts by cause and a contact sheet of the missed faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .common import SIZE_BUCKETS, Dataset, Evaluation, _iou

CELL = 96  # px per contact-sheet cell
COLUMNS = 16
MAX_CELLS = 192
CONTEXT = 1.0  # crop this much extra around the face on each side, as a fraction of its size
LOOSE_IOU = 0.3  # a detection this close (but under 0.5) means "found, badly placed", not "not seen at all"
BLURRY_SHARPNESS = 20.0  # variance of the Laplacian on a 32 px copy of the face; below reads as blurred


def sharpness(image_gray: np.ndarray, box: np.ndarray) -> float:
    x1, y1, x2, y2 = np.round(box).astype(int)
    face = image_gray[max(y1, 0) : max(y2, y1 + 1), max(x1, 0) : max(x2, x1 + 1)]
    if face.size == 0:
        return 0.0
    face = cv2.resize(face, (32, 32), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(face, cv2.CV_64F).var())


def missed_faces(dataset: Dataset, evaluation: Evaluation, threshold: float) -> list[dict]:
    misses = []
    for sample, match in zip(dataset.samples, evaluation.per_image):
        kept = match.scores >= threshold
        boxes = match.boxes[kept]
        for index in np.flatnonzero(~sample.invalid & (match.face_match_score < threshold)):
            face = sample.boxes[index]
            best_iou = float(_iou(face[None], boxes).max()) if len(boxes) else 0.0
            misses.append({"sample": sample, "box": face, "width": float(face[2] - face[0]), "best_iou": best_iou})
    return misses


def describe(dataset: Dataset, misses: list[dict]) -> dict:
    """Counts of missed faces by width bucket, localisation, blur."""
    by_width = {name: sum(low <= m["width"] < high for m in misses) for name, low, high in SIZE_BUCKETS}
    return {
        "missed": len(misses),
        "by_width": by_width,
        "badly_placed": sum(m["best_iou"] >= LOOSE_IOU for m in misses),
        "blurred": sum(m.get("sharpness", np.inf) < BLURRY_SHARPNESS for m in misses),
    }


def write_contact_sheet(dataset: Dataset, evaluation: Evaluation, threshold: float, path: Path) -> dict:
    """Crops of missed faces (with context), smallest first per row band, labelled with width in px."""
    misses = missed_faces(dataset, evaluation, threshold)
    rng = np.random.default_rng(0)
    shown = sorted(
        (misses[i] for i in rng.permutation(len(misses))[:MAX_CELLS]), key=lambda m: m["width"]
    )
    cells = []
    cache: dict[Path, np.ndarray] = {}
    for miss in misses:
        path_key = miss["sample"].path
        if path_key not in cache:
            cache.clear()
            cache[path_key] = cv2.imread(str(path_key), cv2.IMREAD_COLOR)
        miss["sharpness"] = sharpness(cv2.cvtColor(cache[path_key], cv2.COLOR_BGR2GRAY), miss["box"])
    for miss in shown:
        image = cv2.imread(str(miss["sample"].path), cv2.IMREAD_COLOR)
        cells.append(_cell(image, miss))
    rows = [cells[i : i + COLUMNS] for i in range(0, len(cells), COLUMNS)]
    blank = np.full((CELL, CELL, 3), 255, np.uint8)
    sheet = np.vstack([np.hstack(row + [blank] * (COLUMNS - len(row))) for row in rows]) if rows else blank
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_JPEG_QUALITY, 80])
    return describe(dataset, misses)


def _cell(image: np.ndarray, miss: dict) -> np.ndarray:
    x1, y1, x2, y2 = miss["box"]
    side = max(x2 - x1, y2 - y1) * (1 + 2 * CONTEXT)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    size = max(int(round(side)), 4)
    padded = cv2.copyMakeBorder(image, size, size, size, size, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    crop = padded[top + size : top + 2 * size, left + size : left + 2 * size]
    scale = CELL / size
    cell = cv2.resize(crop, (CELL, CELL), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    bx1, by1 = int((x1 - left) * scale), int((y1 - top) * scale)
    bx2, by2 = int((x2 - left) * scale), int((y2 - top) * scale)
    colour = (0, 200, 255) if miss["best_iou"] >= LOOSE_IOU else (0, 0, 255)
    cv2.rectangle(cell, (bx1, by1), (bx2, by2), colour, 1)
    cv2.putText(cell, f"{miss['width']:.0f}px", (2, CELL - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 2)
    cv2.putText(cell, f"{miss['width']:.0f}px", (2, CELL - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    return cell
