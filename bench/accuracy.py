"""Detection quality side by side: this service's presets, Ultralytics and deface on real annotated photos.

    .venv/bin/python -m bench.accuracy                      # everything (about an hour on 2 cores)
    .venv/bin/python -m bench.accuracy --stride 4 --configs 'yolov8n-face/*,ultralytics'
    .venv/bin/python -m bench.accuracy --datasets face_mask --misses yolov8n-face/balanced
    .venv/bin/python -m bench.accuracy --stride 16 --rotations 90,180,270 \
        --configs 'was/yolov8n-face/*,yolov8n-face/fast,yolov8n-face/balanced' --json bench/out/turned.json
    .venv/bin/python -m bench.accuracy --preset-table bench/out/turned.json [more runs' JSON]

Prints AP at IoU 0.5, precision and recall at each configuration's threshold, recall by face width and seconds
per image (detector call only, single process, `--threads` per model), and writes the same as JSON (with each
configuration's precision-recall curve) to bench/out/accuracy.json. The configurations take turns photo by photo,
so their seconds compare within a run. `--rotations` adds each data set turned (`wider_train@90`, ...) and a table
of what is found turned against upright; with `was/` configurations (the presets before issue 26) it also prints
the README's per-preset table.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .common import (
    SIZE_BUCKETS,
    Dataset,
    Evaluation,
    evaluate,
    face_coverage,
    load_dataset,
    markdown_table,
    subset,
    write_run,
)
from .detectors import COLLECT_THRESHOLD, Config, DetectFn, all_configs
from .misses import describe, face_table, write_contact_sheet

OUT_DIR = Path(__file__).resolve().parent / "out"
CURVE_THRESHOLDS = np.round(np.arange(COLLECT_THRESHOLD, 0.951, 0.01), 2)
TARGET_PRECISIONS = (0.95, 0.93, 0.90, 0.85)
F_BETAS = (1, 2, 3)  # how many times more a miss counts than a false box, squared
BOX_SCALES = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
COVERED = 0.95  # a face counts as hidden when this much of it is inside the anonymized area


@dataclass
class Run:
    config: Config
    dataset: Dataset
    detections: list[tuple[np.ndarray, np.ndarray]]
    seconds: list[float]


def run_configs(configs: list[Config], detectors: list[DetectFn], dataset: Dataset, progress: bool) -> list[Run]:
    """Every configuration on every photo, taking turns photo by photo in an order that alternates (A B, then
    B A), so load from other work on a shared machine falls on all of them alike and their seconds compare."""
    runs = [Run(config, dataset, [], []) for config in configs]
    for index, sample in enumerate(dataset.samples):
        image_bgr = sample.read_bgr(cv2.IMREAD_COLOR)
        image_rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        order = range(len(runs)) if index % 2 == 0 else reversed(range(len(runs)))
        for which in order:
            detect, run = detectors[which], runs[which]
            if index == 0:
                detect(image_bgr, image_rgb)  # warm-up: first calls allocate and initialise
            started = time.perf_counter()
            boxes, scores = detect(image_bgr, image_rgb)
            run.seconds.append(time.perf_counter() - started)
            run.detections.append((np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)))
        if progress and (index + 1) % 50 == 0:
            print(f"  {dataset.name}: {index + 1}/{len(dataset.samples)}", file=sys.stderr)
    return runs


def operating_points(curve: list[tuple[float, float, float]]) -> dict[str, dict | None]:
    """Thresholds read off the precision-recall curve: the best F-beta for each beta, and for each target
    precision the threshold with the most recall that keeps precision at or above it."""

    def point(entry: tuple[float, float, float] | None) -> dict | None:
        return None if entry is None else {"threshold": entry[0], "precision": entry[1], "recall": entry[2]}

    def f_beta(entry: tuple[float, float, float], beta: float) -> float:
        _, p, r = entry
        return (1 + beta**2) * p * r / max(beta**2 * p + r, 1e-9)

    points = {f"best_f{beta}": point(max(curve, key=lambda e: f_beta(e, beta))) for beta in F_BETAS}
    for target in TARGET_PRECISIONS:
        meeting = [entry for entry in curve if entry[1] >= target]
        points[f"precision_{target:.2f}"] = point(max(meeting, key=lambda e: (e[2], -e[0]), default=None))
    return points


def coverage_by_box_scale(run: Run) -> dict[str, dict]:
    """How much of each face the blur covers, for the default ellipse mask grown by each box scale."""
    result = {}
    for box_scale in BOX_SCALES:
        fractions = np.concatenate(
            [
                face_coverage(sample, boxes[scores >= run.config.threshold], box_scale)
                for sample, (boxes, scores) in zip(run.dataset.samples, run.detections, strict=True)
            ]
        )
        result[f"{box_scale:.1f}"] = {
            "faces_hidden": float((fractions >= COVERED).mean()),
            "mean_coverage": float(fractions.mean()),
        }
    return result


def summarize(run: Run, evaluation: Evaluation) -> dict:
    threshold = run.config.threshold
    precision, recall = evaluation.precision_recall(threshold)
    curve = evaluation.pr_curve(CURVE_THRESHOLDS)
    by_size = evaluation.recall_by_size(threshold)
    large = evaluation.face_width >= 32
    return {
        "config": run.config.name,
        "description": run.config.description,
        "dataset": run.dataset.name,
        "images": evaluation.images,
        "faces": evaluation.valid_faces,
        "threshold": threshold,
        "ap50": evaluation.average_precision(),
        "precision": precision if run.dataset.precision_meaningful else None,
        "precision_understated": precision,
        "recall": recall,
        "recall_by_width": by_size,
        "recall_ge32": float((evaluation.face_match_score[large] >= threshold).mean()) if large.any() else None,
        "missed_ge32": int((evaluation.face_match_score[large] < threshold).sum()),
        "seconds_per_image": float(np.mean(run.seconds)),
        "seconds_median": float(np.median(run.seconds)),
        "seconds_p90": float(np.percentile(run.seconds, 90)),
        "operating_points": operating_points(curve) if run.dataset.precision_meaningful else None,
        "coverage_by_box_scale": coverage_by_box_scale(run),
        "pr_curve": [{"threshold": t, "precision": p, "recall": r} for t, p, r in curve],
    }


def format_table(rows: list[dict]) -> str:
    """One line per data set and configuration; `vs was` is the speed against the same preset as it was before
    issue 26 (`was/...`) on the same photos in the same run: its seconds / these (0.8: takes 1.25 times as long)."""
    size_names = [name for name, _, _ in SIZE_BUCKETS]
    header = ["data set", "configuration", "thr", "AP50", "P", "R", "R>=32", "missed>=32"]
    header += [*(f"R{n}" for n in size_names), "s/img", "vs was"]
    seconds = {(row["dataset"], row["config"]): row["seconds_per_image"] for row in rows}
    lines: list[list[str]] = []
    for row in rows:

        def number(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        before = seconds.get((row["dataset"], "was/" + row["config"].removeprefix("was/")))
        lines.append(
            [
                row["dataset"],
                row["config"],
                f"{row['threshold']:.2f}",
                number(row["ap50"]),
                number(row["precision"]),
                number(row["recall"]),
                number(row["recall_ge32"]),
                str(row["missed_ge32"]),
                *(number(row["recall_by_width"][n]) for n in size_names),
                f"{row['seconds_per_image']:.3f}",
                "-" if before is None else f"{before / row['seconds_per_image']:.2f}x",
            ]
        )
    return markdown_table(header, lines)


def format_rotation_table(rows: list[dict]) -> str:
    """For each configuration and data set: recall with the photos turned, the faces found turned as a share of
    those found upright (at the configuration's threshold), and recall of faces >= 32 px each way up."""
    upright = {(row["dataset"], row["config"]): row for row in rows if "@" not in row["dataset"]}
    lines = [
        "| data set | configuration | R upright | R 90 | R 180 | R 270 | found turned / upright (90, 180, 270) "
        "| R>=32 (0, 90, 180, 270) |"
    ]
    lines.append("|---|---|---|---|---|---|---|---|")
    for (dataset, config), base in upright.items():
        turned = {
            row["dataset"].split("@")[1]: row
            for row in rows
            if row["config"] == config and row["dataset"].startswith(dataset + "@")
        }
        if not turned:
            continue
        ways = [turned.get(d) for d in ("90", "180", "270")]
        cells = [f"{row['recall']:.3f}" if row else "-" for row in ways]
        shares = [f"{row['recall'] / base['recall']:.3f}" if row else "-" for row in ways]
        large = [
            f"{row['recall_ge32']:.3f}" if row and row["recall_ge32"] is not None else "-" for row in [base, *ways]
        ]
        lines.append(
            f"| {dataset} | {config} | {base['recall']:.3f} | {' | '.join(cells)} | {', '.join(shares)} "
            f"| {', '.join(large)} |"
        )
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_preset_table(rows: list[dict]) -> str:
    """The README's table: each preset as main shipped it (`was/`) and as it is now, upright and turned (a run with
    `--rotations 90,180,270` over wider_train and face_mask; rows of several runs' JSON may be joined)."""
    by = {(row["dataset"], row["config"]): row for row in rows}
    turns = ("90", "180", "270")
    lines = [
        "| preset | version | P (WIDER) | R>=32 WIDER (missed) | R>=32 face_mask (missed) "
        "| R<16 / 16-32 / 32-96 / >=96 (WIDER) | found turned / upright, 90 / 180 / 270: WIDER | face_mask "
        "| R>=32 turned, worst way (WIDER, face_mask) | s/photo WIDER, face_mask | speed vs today |",
        "|---|---|---:|---:|---:|---|---|---|---|---|---:|",
    ]
    presets = dict.fromkeys(row["config"].removeprefix("was/").split("/")[-1] for row in rows)
    for preset in presets:
        for version, config in (("today (main)", f"was/yolov8n-face/{preset}"), ("issue 26", f"yolov8n-face/{preset}")):
            wider, mask = by.get(("wider_train", config)), by.get(("face_mask", config))
            if wider is None or mask is None:
                continue

            def shares(dataset: str, upright: dict) -> str:
                turned = [by.get((f"{dataset}@{d}", config)) for d in turns]  # noqa: B023
                return " / ".join(
                    f"{t['recall'] / upright['recall']:.2f}" if t and upright["recall"] else "-" for t in turned
                )

            def worst(dataset: str) -> str:
                turned = [by.get((f"{dataset}@{d}", config)) for d in turns]  # noqa: B023
                values = [t["recall_ge32"] for t in turned if t and t["recall_ge32"] is not None]
                return f"{min(values):.3f}" if values else "-"

            speed = []
            for dataset, row in (("wider_train", wider), ("face_mask", mask)):
                before = by.get((dataset, f"was/yolov8n-face/{preset}"))
                speed.append(f"{before['seconds_per_image'] / row['seconds_per_image']:.2f}x" if before else "-")
            sizes = " / ".join(_number(wider["recall_by_width"][name]) for name, _, _ in SIZE_BUCKETS)
            lines.append(
                f"| {preset} | {version} | {_number(wider['precision'])} "
                f"| {_number(wider['recall_ge32'])} ({wider['missed_ge32']}) "
                f"| {_number(mask['recall_ge32'])} ({mask['missed_ge32']}) "
                f"| {sizes} | {shares('wider_train', wider)} | {shares('face_mask', mask)} "
                f"| {worst('wider_train')}, {worst('face_mask')} "
                f"| {wider['seconds_per_image']:.2f}, {mask['seconds_per_image']:.2f} | {', '.join(speed)} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="wider_train,face_mask")
    parser.add_argument("--configs", default="*", help="comma-separated names or patterns, e.g. 'yolov8n-face/*'")
    parser.add_argument("--stride", type=int, default=1, help="use every n-th image")
    parser.add_argument("--offset", type=int, default=0, help="start at this image (with --stride)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per data set")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads of each model")
    parser.add_argument("--json", type=Path, default=OUT_DIR / "accuracy.json")
    parser.add_argument("--misses", default="", help="configurations whose missed faces go on a contact sheet")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--rotations", default="", help="also each data set with its photos turned, e.g. 90,180,270 (degrees)"
    )
    parser.add_argument(
        "--preset-table", nargs="+", type=Path, help="only print the README's preset table from these runs' JSON"
    )
    args = parser.parse_args(argv)
    if args.preset_table:
        print(
            format_preset_table([row for path in args.preset_table for row in json.loads(path.read_text())["results"]])
        )
        return 0

    patterns = [p.strip() for p in args.configs.split(",") if p.strip()]
    configs = [c for c in all_configs() if any(fnmatch.fnmatchcase(c.name, p) for p in patterns)]
    if not configs:
        parser.error(f"no configuration matches {args.configs!r}; known: {', '.join(c.name for c in all_configs())}")
    miss_patterns = [p.strip() for p in args.misses.split(",") if p.strip()]
    detectors = [config.build(args.threads) for config in configs]

    rows = []
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    degrees = [r.strip() for r in args.rotations.split(",") if r.strip()]
    for dataset_name in names + [f"{name}@{turn}" for name in names for turn in degrees]:
        dataset = subset(load_dataset(dataset_name), args.stride, args.limit, args.offset)
        for run in run_configs(configs, detectors, dataset, progress=not args.quiet):
            config = run.config
            wants_sheet = any(fnmatch.fnmatchcase(config.name, p) for p in miss_patterns)
            evaluation = evaluate(dataset.samples, run.detections, keep_matches=wants_sheet)
            row = summarize(run, evaluation)
            rows.append(row)
            if not args.quiet:
                print(format_table([row]).splitlines()[-1], file=sys.stderr)
            if wants_sheet:
                faces = face_table(dataset, evaluation, config.threshold)
                row["misses"] = describe(faces)
                stem = OUT_DIR / f"misses_{dataset.name}_{config.name.replace('/', '_')}"
                write_contact_sheet(faces, stem.with_suffix(".jpg"))
                write_contact_sheet(faces, stem.parent / f"{stem.name}_32px_up.jpg", min_width=32)
                print(f"missed faces: {stem}.jpg, {stem.name}_32px_up.jpg", file=sys.stderr)

    print(format_table(rows))
    if any("@" in row["dataset"] for row in rows):
        print("\n" + format_rotation_table(rows))
    if any(row["config"].startswith("was/") for row in rows):
        print("\n" + format_preset_table(rows))
    meta = {
        "threads": args.threads,
        "stride": args.stride,
        "offset": args.offset,
        "limit": args.limit,
        "collect_threshold": COLLECT_THRESHOLD,
    }
    write_run(args.json, meta, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
