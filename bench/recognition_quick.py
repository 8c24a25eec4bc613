"""A quick sanity figure for face recognition: LFW verification through `run_job`, in process.

    python -m bench.recognition_quick [--preset balanced] [--per-fold 300]

Every photo named in ../shared/data/lfw_dev/pairs.txt (5 folds of 300 same-person and 300 different-person
pairs) goes through an embed job (decode, detect with the preset, align, embed); the face nearest the photo's
centre stands for it. A pair's score is the cosine similarity of the two embeddings (a photo with no face
scores -1, i.e. "different"). Printed: accuracy at the best single threshold over all pairs, the 5-fold figure
(threshold chosen on 4 folds, tested on the 5th, mean over the folds), and the embed time per face.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.common import SHARED  # noqa: E402
from face_detection_service.detection.loader import load_detector  # noqa: E402
from face_detection_service.detection.presets import get_preset  # noqa: E402
from face_detection_service.jobs import JobSpec, run_job  # noqa: E402
from face_detection_service.recognition.embedder import load_embedder  # noqa: E402

LFW = SHARED / "data" / "lfw_dev"
MODEL = SHARED / "models" / "yolov8n-face_int8.tflite"


def read_pairs(path: Path, per_fold: int) -> list[list[tuple[Path, Path, bool]]]:
    """The folds of pairs.txt: each ``per_fold`` same-person pairs, then as many different-person pairs."""
    lines = path.read_text().split("\n")
    folds, size = (int(v) for v in lines[0].split())
    rows = [line.split("\t") for line in lines[1:] if line.strip()]

    def photo(name: str, number: str) -> Path:
        return LFW / "images" / name / f"{name}_{int(number):04d}.jpg"

    result = []
    for fold in range(folds):
        block = rows[fold * 2 * size : (fold + 1) * 2 * size]
        same = [(photo(r[0], r[1]), photo(r[0], r[2]), True) for r in block[:size]][:per_fold]
        different = [(photo(r[0], r[1]), photo(r[2], r[3]), False) for r in block[size:]][:per_fold]
        result.append(same + different)
    return result


def centre_embedding(output, width: int, height: int) -> np.ndarray | None:
    """The embedding of the face nearest the photo's centre (LFW centres the person it names)."""
    if output.embeddings is None:
        return None
    known = [i for i in range(len(output.faces)) if np.isfinite(output.embeddings[i]).all()]
    if not known:
        return None
    centres = (output.faces.boxes[known, :2] + output.faces.boxes[known, 2:]) / 2
    distance = np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)
    return output.embeddings[known[int(np.argmin(distance))]]


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold (midway between neighbouring scores) with the highest accuracy, and that accuracy."""
    ordered = np.sort(scores)
    candidates = np.concatenate([[ordered[0] - 1e-6], (ordered[:-1] + ordered[1:]) / 2, [ordered[-1] + 1e-6]])
    accuracies = [((scores > t) == same).mean() for t in candidates]
    best = int(np.argmax(accuracies))
    return float(candidates[best]), float(accuracies[best])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="balanced")
    parser.add_argument("--per-fold", type=int, default=300, help="pairs of each kind per fold (300: all)")
    args = parser.parse_args()

    folds = read_pairs(LFW / "pairs.txt", args.per_fold)
    photos = sorted({p for fold in folds for a, b, _ in fold for p in (a, b)})
    detector, embedder = load_detector(MODEL, 1), load_embedder("", 1)
    spec = JobSpec(blur=False, preset=get_preset(args.preset), embed=True)
    embeddings: dict[Path, np.ndarray | None] = {}
    per_face_ms: list[float] = []
    started = time.perf_counter()
    for number, path in enumerate(photos, 1):
        output = run_job(path.read_bytes(), spec, detector, 10**9, embedder)
        embedded = int(np.isfinite(output.embeddings).all(axis=1).sum()) if output.embeddings is not None else 0
        if embedded:
            per_face_ms.append(output.timings_ms["embed_ms"] / embedded)
        embeddings[path] = centre_embedding(output, output.width, output.height)
        if number % 500 == 0:
            print(f"  {number}/{len(photos)} photos, {time.perf_counter() - started:.0f} s", flush=True)

    def score(a: Path, b: Path) -> float:
        ea, eb = embeddings[a], embeddings[b]
        return -1.0 if ea is None or eb is None else float(ea @ eb)

    scores = [np.array([score(a, b) for a, b, _ in fold]) for fold in folds]
    same = [np.array([s for _, _, s in fold]) for fold in folds]
    fold_accuracies, fold_thresholds = [], []
    for held_out in range(len(folds)):
        train = [i for i in range(len(folds)) if i != held_out]
        train_scores, train_same = np.concatenate([scores[i] for i in train]), np.concatenate([same[i] for i in train])
        threshold, _ = best_threshold(train_scores, train_same)
        fold_thresholds.append(threshold)
        fold_accuracies.append(float(((scores[held_out] > threshold) == same[held_out]).mean()))
    threshold, accuracy = best_threshold(np.concatenate(scores), np.concatenate(same))
    missing = sum(e is None for e in embeddings.values())
    print(f"LFW ({sum(len(f) for f in folds)} pairs, {len(photos)} photos, preset {args.preset}, {embedder.name})")
    print(f"  photos without an embedded face: {missing}")
    print(f"  best single threshold {threshold:.3f}: accuracy {accuracy:.2%}")
    print(
        f"  5-fold (threshold from 4 folds, tested on the 5th): {statistics.mean(fold_accuracies):.2%} "
        f"+- {statistics.pstdev(fold_accuracies):.2%}, thresholds {', '.join(f'{t:.3f}' for t in fold_thresholds)}"
    )
    print(
        f"  embed per face: median {statistics.median(per_face_ms):.1f} ms, "
        f"p90 {np.percentile(per_face_ms, 90):.1f} ms (align + model, 1 thread)"
    )


if __name__ == "__main__":
    main()
