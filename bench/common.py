"""Annotated photo sets and the WIDER FACE style scoring shared by the benchmarks (no detector code here).

Scoring follows the WIDER FACE protocol: a detection matches the unmatched ground-truth face it overlaps most
(IoU >= 0.5), best-scored detections first; one that matches a face marked `invalid` is ignored (neither true nor
false positive) and invalid faces are never counted as misses. Matching is greedy in score order within an
image, so every threshold's precision and recall come from one run at a low collection threshold.
"""

from __future__ import annotations

import json
import os
import platform
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACEBLUR_SHARED", REPO_ROOT.parent / "shared"))
DATASETS = {"wider_train": SHARED / "data" / "wider_train", "face_mask": SHARED / "data" / "face_mask"}
LFW = SHARED / "data" / "lfw_dev"  # LFW folds 1-5: pairs.txt and images/NAME/NAME_NNNN.jpg
MATCH_IOU = 0.5
# Face width buckets (px, in the original image) for recall by size.
SIZE_BUCKETS = (("<16", 0, 16), ("16-32", 16, 32), ("32-96", 32, 96), (">=96", 96, float("inf")))
TP, FP, IGNORED = 1, 0, -1


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    boxes: np.ndarray  # float32 [N, 4] x1, y1, x2, y2 (in the photo as read_bgr gives it: turned if turned)
    invalid: np.ndarray  # bool [N]
    quarter_turns: int = 0  # the photo is turned this many times 90 degrees counter-clockwise (np.rot90)

    def read_bgr(self, flags: int = 1) -> np.ndarray:
        """The photo (cv2.imread flags: 1 colour, 0 grey), turned as this sample says."""
        import cv2

        image = cv2.imread(str(self.path), flags)
        return np.ascontiguousarray(np.rot90(image, self.quarter_turns)) if self.quarter_turns % 4 else image


@dataclass(frozen=True)
class Dataset:
    name: str
    samples: list[Sample]
    precision_meaningful: bool  # False where annotations miss many real faces (recall only)


def load_wider(root: Path) -> Dataset:
    ground_truth = json.loads((root / "gt.json").read_text())
    samples = [
        Sample(
            name,
            root / "images" / name,
            np.asarray(entry["boxes"], np.float32).reshape(-1, 4),
            np.asarray(entry["invalid"], bool).reshape(-1),
        )
        for name, entry in sorted(ground_truth.items())
    ]
    return Dataset("wider_train", samples, precision_meaningful=True)


def load_face_mask(root: Path) -> Dataset:
    samples = []
    for annotation in sorted((root / "annotations").glob("*.xml"), key=lambda p: _natural_key(p.stem)):
        tree = ElementTree.parse(annotation).getroot()
        boxes = [
            [float(obj.findtext(f"bndbox/{tag}")) for tag in ("xmin", "ymin", "xmax", "ymax")]
            for obj in tree.findall("object")
        ]
        image = root / "images" / tree.findtext("filename")
        samples.append(
            Sample(image.name, image, np.asarray(boxes, np.float32).reshape(-1, 4), np.zeros(len(boxes), bool))
        )
    return Dataset("face_mask", samples, precision_meaningful=False)


def load_dataset(name: str) -> Dataset:
    """A data set by name; `<name>@90`, `@180`, `@270`: its photos turned that many degrees counter-clockwise
    (pixels turned, no EXIF orientation), boxes turned with them."""
    base, _, degrees = name.partition("@")
    loaders = {"wider_train": load_wider, "face_mask": load_face_mask}
    dataset = loaders[base](DATASETS[base])
    return turned(dataset, int(degrees) // 90) if degrees else dataset


def turned(dataset: Dataset, quarter_turns: int) -> Dataset:
    """The data set with every photo turned `quarter_turns` x 90 degrees counter-clockwise, as np.rot90 turns it."""
    from PIL import Image

    k = quarter_turns % 4
    if k == 0:
        return dataset
    samples = []
    for sample in dataset.samples:
        with Image.open(sample.path) as image:
            width, height = image.size
        x1, y1, x2, y2 = sample.boxes.T
        if k == 1:  # (x, y) -> (y, width - x)
            boxes = np.stack([y1, width - x2, y2, width - x1], axis=1)
        elif k == 2:
            boxes = np.stack([width - x2, height - y2, width - x1, height - y1], axis=1)
        else:  # (x, y) -> (height - y, x)
            boxes = np.stack([height - y2, x1, height - y1, x2], axis=1)
        samples.append(Sample(sample.name, sample.path, boxes.astype(np.float32), sample.invalid, k))
    return Dataset(f"{dataset.name}@{k * 90}", samples, dataset.precision_meaningful)


def subset(dataset: Dataset, stride: int = 1, limit: int | None = None, offset: int = 0) -> Dataset:
    samples = dataset.samples[offset::stride][:limit]
    return Dataset(dataset.name, samples, dataset.precision_meaningful)


def write_results(path: Path, results: dict) -> None:
    """Save a benchmark's results as JSON (making the folder) and say where they went."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"\nJSON: {path}")


def markdown_table(header: list[str], lines: list[list[str]]) -> str:
    """A Markdown table, its columns padded to their widest cell."""
    lines = [header, *lines]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |" for line in lines]
    rendered.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(rendered)


def write_run(path: Path, meta: dict, rows: list[dict]) -> None:
    """Save a benchmark run's rows with its settings (`meta`) and the machine it ran on."""
    machine = {"machine": platform.platform(), "processor": platform.processor()}
    write_results(path, {"meta": {**meta, **machine}, "results": rows})


def _natural_key(text: str) -> tuple:
    digits = "".join(c for c in text if c.isdigit())
    return (text.rstrip("0123456789"), int(digits) if digits else -1)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class ImageMatch:
    """One image's detections labelled TP / FP / IGNORED, and for each face the score of its match (or -1)."""

    boxes: np.ndarray  # detections, best score first
    scores: np.ndarray
    labels: np.ndarray
    face_match_score: np.ndarray
    face_match_box: np.ndarray  # [N, 4], NaN when missed


def match_image(sample: Sample, boxes: np.ndarray, scores: np.ndarray) -> ImageMatch:
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    labels = np.full(len(scores), FP, np.int8)
    face_match_score = np.full(len(sample.boxes), -1.0, np.float32)
    face_match_box = np.full((len(sample.boxes), 4), np.nan, np.float32)
    if len(sample.boxes) and len(boxes):
        overlaps = _iou(boxes, sample.boxes)
        taken = np.zeros(len(sample.boxes), bool)
        for i in range(len(boxes)):
            candidates = overlaps[i] >= MATCH_IOU
            free_valid = candidates & ~taken & ~sample.invalid
            if free_valid.any():
                face = int(np.argmax(np.where(free_valid, overlaps[i], -1)))
                taken[face] = True
                labels[i] = TP
                face_match_score[face] = scores[i]
                face_match_box[face] = boxes[i]
            elif (candidates & sample.invalid).any():
                labels[i] = IGNORED
    return ImageMatch(boxes, scores, labels, face_match_score, face_match_box)


@dataclass
class Evaluation:
    """Everything needed for precision/recall at any threshold over a whole data set."""

    scores: np.ndarray  # every non-ignored detection's score
    is_tp: np.ndarray
    face_match_score: np.ndarray  # every valid face: score of the detection matched to it, -1 if none
    face_width: np.ndarray
    valid_faces: int
    images: int
    per_image: list[ImageMatch] = field(default_factory=list)

    def precision_recall(self, threshold: float) -> tuple[float, float]:
        kept = self.scores >= threshold
        true_positives = int(self.is_tp[kept].sum())
        precision = true_positives / max(int(kept.sum()), 1)
        recall = float((self.face_match_score >= threshold).sum()) / max(self.valid_faces, 1)
        return precision, recall

    def recall_by_size(self, threshold: float) -> dict[str, float | None]:
        found = self.face_match_score >= threshold
        result: dict[str, float | None] = {}
        for name, low, high in SIZE_BUCKETS:
            in_bucket = (self.face_width >= low) & (self.face_width < high)
            result[name] = float(found[in_bucket].mean()) if in_bucket.any() else None
        return result

    def average_precision(self) -> float:
        """Area under the precision envelope (all-point interpolation, as VOC 2010+ and WIDER FACE)."""
        if not len(self.scores):
            return 0.0
        order = np.argsort(-self.scores, kind="stable")
        true_positives = np.cumsum(self.is_tp[order])
        precision = true_positives / np.arange(1, len(order) + 1)
        recall = true_positives / max(self.valid_faces, 1)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        recall_steps = np.diff(np.concatenate([[0.0], recall]))
        return float((envelope * recall_steps).sum())

    def pr_curve(self, thresholds: np.ndarray) -> list[tuple[float, float, float]]:
        return [(float(t), *self.precision_recall(float(t))) for t in thresholds]


def evaluate(
    samples: list[Sample],
    detections: list[tuple[np.ndarray, np.ndarray]],
    keep_matches: bool = False,
) -> Evaluation:
    """Score `detections[i]` = (boxes [K, 4], scores [K]) against `samples[i]`."""
    scores, is_tp, face_scores, widths, matches = [], [], [], [], []
    for sample, (boxes, det_scores) in zip(samples, detections, strict=True):
        match = match_image(sample, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(det_scores, np.float32))
        counted = match.labels != IGNORED
        scores.append(match.scores[counted])
        is_tp.append(match.labels[counted] == TP)
        valid = ~sample.invalid
        face_scores.append(match.face_match_score[valid])
        widths.append((sample.boxes[:, 2] - sample.boxes[:, 0])[valid])
        if keep_matches:
            matches.append(match)
    face_match_score = np.concatenate(face_scores) if face_scores else np.zeros(0, np.float32)
    return Evaluation(
        scores=np.concatenate(scores) if scores else np.zeros(0, np.float32),
        is_tp=np.concatenate(is_tp) if is_tp else np.zeros(0, bool),
        face_match_score=face_match_score,
        face_width=np.concatenate(widths) if widths else np.zeros(0, np.float32),
        valid_faces=len(face_match_score),
        images=len(samples),
        per_image=matches,
    )


def face_coverage(sample: Sample, boxes: np.ndarray, box_scale: float, grid: int = 8) -> np.ndarray:
    """For each valid face, the fraction of the face (the ellipse inscribed in its annotated box) inside the
    anonymized area: the union of the ellipses inscribed in the detection boxes grown `box_scale` times around
    their centres (the service's default mask)."""
    faces = sample.boxes[~sample.invalid]
    if not len(faces):
        return np.zeros(0, np.float32)
    if not len(boxes):
        return np.zeros(len(faces), np.float32)
    steps = (np.arange(grid) + 0.5) / grid
    xs = faces[:, 0:1] + steps[None] * (faces[:, 2:3] - faces[:, 0:1])  # [F, g]
    ys = faces[:, 1:2] + steps[None] * (faces[:, 3:4] - faces[:, 1:2])
    px = np.repeat(xs[:, None, :], grid, axis=1).reshape(len(faces), -1)  # [F, g*g]
    py = np.repeat(ys[:, :, None], grid, axis=2).reshape(len(faces), -1)
    in_face = ((steps[None, :] - 0.5) ** 2 + (steps[:, None] - 0.5) ** 2 <= 0.25).reshape(-1)
    px, py = px[:, in_face], py[:, in_face]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    radii = np.maximum((boxes[:, 2:] - boxes[:, :2]) * box_scale / 2, 1e-6)
    inside = (
        ((px[:, :, None] - centres[None, None, :, 0]) / radii[None, None, :, 0]) ** 2
        + ((py[:, :, None] - centres[None, None, :, 1]) / radii[None, None, :, 1]) ** 2
    ) <= 1.0
    return inside.any(axis=2).mean(axis=1).astype(np.float32)
