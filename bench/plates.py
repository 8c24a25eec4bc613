"""Licence plates: the plate detector's variants side by side, against the face detector's cost on the same photos.

    .venv/bin/python -m bench.plates                                   # every variant (about 40 min on 2 cores)
    .venv/bin/python -m bench.plates --variants shipped,fp32-640 --wider-stride 4     # a quick look

Variants: ``shipped`` is platedet.onnx as the wheel ships it (fp16, with the mask branch), one pass;
``<precision>-<N>`` is what ``plates.derive_plate_model`` makes of it (fp32, boxes only, N x N input; int8: its
convolutions quantized, calibrated on synthetic images), one pass; ``+look`` adds the detector's second look at the
candidates it is unsure of (the same precision at 320), and ``+rect`` the whole-image pass at inputs cut to the
photo's shape (``PLATE_SHAPES``), the two as ``load_plate_detector`` builds the service's detector. Every variant drops
candidates taller than wide (``PLATE_MIN_ASPECT``).

For each variant, at its threshold (``--threshold``, default the detector's):
- recall at IoU 0.5 on ../shared/data/plates_dev per region (eu, br), and on mosaics of those photos (2 x 2 and
  3 x 3 on one canvas: the same plates at 1/2 and 1/3 of their size in the network's input, a proxy for the
  smaller plates of street scenes);
- covered: the share of annotated plates lying wholly inside a padded detection box (``--padding`` x the box's
  height on every side), misses included;
- false plates per photo on ../shared/data/wider_train (people, no traffic: every plate found there is false),
  and faces as plates: plate boxes overlapping an annotated face with IoU > 0.3;
- seconds per photo (detector call only, one process, ``--threads`` per model) on the plates_dev photos, and
  the ratio to the face detector's default preset on the same photos, timed interleaved, photo by photo.
It also prints, for the variants, recall and false plates per photo by threshold, and the covered share by padding,
the figures the defaults in ``face_detection_service/detection/plates.py`` are read from; JSON goes to
bench/out/plates.json. Derived models are cached where the service keeps its own (``plate_cache_dir()``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from face_detection_service.detection.geometry import iou_matrix
from face_detection_service.detection.loader import load_detector
from face_detection_service.detection.plates import (
    LOOK_INPUT_SIZE,
    PLATE_PADDING,
    PLATE_SHAPES,
    PLATE_THRESHOLD,
    PlateDetector,
    PlateNetwork,
    Plates,
    cached_plate_model,
    pad_plate_boxes,
    plate_cache_dir,
    resolve_plate_model,
)
from face_detection_service.detection.presets import DEFAULT_PRESET, PRESETS
from face_detection_service.detection.yolo import letterbox

from .common import DATASETS, SHARED, load_wider, markdown_table, write_run
from .detectors import YOLO_MODEL

OUT_DIR = Path(__file__).resolve().parent / "out"
PLATES_DEV = SHARED / "data" / "plates_dev"
MATCH_IOU = 0.5
FACE_IOU = 0.3  # a plate box overlapping an annotated face this much is a face taken for a plate
COLLECT = 0.05  # every variant reports candidates down to this score; thresholds are applied afterwards
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
PADDINGS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
MOSAICS = (2, 3)
MOSAIC_SIDE = 1280  # mosaic canvas: each photo letterboxed into a cell of side MOSAIC_SIDE / n
MODEL_CACHE = plate_cache_dir()  # the same recipe makes the same bytes: share the service's
DEFAULT_VARIANTS = (
    "shipped,fp32-640,fp32-416,fp32-320,int8-640,int8-416,int8-320,fp32-640+look,int8-640+look,int8-640+look+rect"
)


@dataclass(frozen=True)
class PlatePhoto:
    name: str
    region: str
    path: Path
    boxes: np.ndarray  # float32 [N, 4]


@dataclass
class Found:
    """One variant's candidates (>= COLLECT) for each photo, and its seconds per photo."""

    plates: list[Plates] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def load_plates_dev(root: Path = PLATES_DEV) -> list[PlatePhoto]:
    truth = json.loads((root / "gt.json").read_text())
    return [
        PlatePhoto(name, name.split("/")[0], root / "images" / name, _boxes(entry))
        for name, entry in sorted(truth.items())
    ]


def _boxes(entry: dict) -> np.ndarray:
    return np.asarray(entry["boxes"], np.float32).reshape(-1, 4)


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def mosaics(photos: list[PlatePhoto], cells: int) -> list[tuple[np.ndarray, np.ndarray, list[str]]]:
    """The photos letterboxed cells x cells to a canvas (grey cells where they run out): image, plate boxes,
    regions."""
    side = MOSAIC_SIDE // cells
    result = []
    per_canvas = cells * cells
    for start in range(0, len(photos), per_canvas):
        canvas = np.full((side * cells, side * cells, 3), 114, np.uint8)
        boxes, regions = [], []
        for index, photo in enumerate(photos[start : start + per_canvas]):
            tile, fit = letterbox(read_rgb(photo.path), side)
            y, x = divmod(index, cells)
            canvas[y * side : (y + 1) * side, x * side : (x + 1) * side] = tile
            corners = photo.boxes.reshape(-1, 2, 2) * fit.scale + np.array([fit.pad_x, fit.pad_y], np.float32)
            boxes.append((corners + np.array([x * side, y * side], np.float32)).reshape(-1, 4))
            regions += [photo.region] * len(photo.boxes)
        result.append((canvas, np.concatenate(boxes).astype(np.float32), regions))
    return result


# ------------------------------------------------------------------------------------------------------- variants


def build_variant(name: str, threads: int) -> PlateDetector:
    source = resolve_plate_model("")
    if name == "shipped":
        return PlateDetector(PlateNetwork(source, threads, name), threshold=COLLECT, second_look=False)
    base, *flags = name.split("+")
    precision, _, size = base.partition("-")
    if precision not in ("fp32", "int8") or not size.isdigit() or not set(flags) <= {"look", "rect"}:
        raise SystemExit(f"unknown variant {name!r}: shipped, fp32-<size> or int8-<size>, optionally +look, +rect")
    plus = "look" in flags

    def network(input_size: int | tuple[int, int]) -> PlateNetwork:
        model = cached_plate_model(source, input_size, precision, MODEL_CACHE)
        return PlateNetwork(model, threads, f"{precision}-{input_size}")

    scaled = [(round(w * int(size) / 640 / 32) * 32, round(h * int(size) / 640 / 32) * 32) for w, h in PLATE_SHAPES]
    shaped = tuple(network(shape) for shape in scaled) if "rect" in flags else ()
    if not plus:
        return PlateDetector(network(int(size)), threshold=COLLECT, second_look=False, shaped=shaped)
    return PlateDetector(network(int(size)), network(LOOK_INPUT_SIZE), threshold=COLLECT, shaped=shaped)


# ------------------------------------------------------------------------------------------------------- scoring


def matched(truth: np.ndarray, plates: Plates, threshold: float) -> np.ndarray:
    """For each annotated plate, the index of the detection matching it (IoU >= 0.5, greedy by score), or -1."""
    kept = np.flatnonzero(plates.scores >= threshold)
    result = np.full(len(truth), -1, np.int64)
    if not len(kept) or not len(truth):
        return result
    overlaps = iou_matrix(plates.boxes[kept], truth)
    for row in np.argsort(-plates.scores[kept], kind="stable"):
        free = (overlaps[row] >= MATCH_IOU) & (result < 0)
        if free.any():
            result[int(np.argmax(np.where(free, overlaps[row], -1)))] = kept[row]
    return result


def covered(truth: np.ndarray, plates: Plates, threshold: float, padding: float) -> np.ndarray:
    """For each annotated plate: is all of it inside one padded detection box?"""
    boxes = pad_plate_boxes(plates.boxes[plates.scores >= threshold], padding)
    if not len(boxes) or not len(truth):
        return np.zeros(len(truth), bool)
    inside = (
        (boxes[None, :, 0] <= truth[:, None, 0])
        & (boxes[None, :, 1] <= truth[:, None, 1])
        & (boxes[None, :, 2] >= truth[:, None, 2])
        & (boxes[None, :, 3] >= truth[:, None, 3])
    )
    return inside.any(axis=1)


def recall(truths: list[np.ndarray], found: list[Plates], threshold: float) -> float:
    hits = [int((matched(t, f, threshold) >= 0).sum()) for t, f in zip(truths, found, strict=True)]
    return sum(hits) / max(sum(len(t) for t in truths), 1)


def needed_padding(truths: list[np.ndarray], found: list[Plates], threshold: float) -> np.ndarray:
    """For each matched plate, the padding (in detection heights) its detection needs to cover all of it."""
    needs = []
    for truth, plates in zip(truths, found, strict=True):
        for plate, index in zip(truth, matched(truth, plates, threshold), strict=True):
            if index < 0:
                continue
            box = plates.boxes[index]
            overshoot = max(box[0] - plate[0], box[1] - plate[1], plate[2] - box[2], plate[3] - box[3], 0.0)
            needs.append(overshoot / max(box[3] - box[1], 1e-6))
    return np.asarray(needs, np.float32)


def summarize(
    name: str,
    photos: list[PlatePhoto],
    dev: Found,
    mosaic_truth: dict[int, list[np.ndarray]],
    mosaic_found: dict[int, list[Plates]],
    wider_faces: list[np.ndarray],
    wider: Found,
    face_seconds: list[float],
    threshold: float,
    padding: float,
) -> dict:
    def by_region(region: str, t: float) -> float:
        pairs = [(p.boxes, f) for p, f in zip(photos, dev.plates, strict=True) if p.region == region]
        return recall([a for a, _ in pairs], [b for _, b in pairs], t)

    truths = [p.boxes for p in photos]

    def covered_share(t: float, pad: float) -> float:
        hits = [covered(a, b, t, pad) for a, b in zip(truths, dev.plates, strict=True)]
        return float(np.concatenate(hits).mean())

    def false_plates(t: float) -> tuple[float, int]:
        counts = [int((f.scores >= t).sum()) for f in wider.plates]
        faces = 0
        for boxes, f in zip(wider_faces, wider.plates, strict=True):
            kept = f.boxes[f.scores >= t]
            if len(kept) and len(boxes):
                faces += int((iou_matrix(kept, boxes).max(axis=1) > FACE_IOU).sum())
        return sum(counts) / max(len(counts), 1), faces

    fp_rate, faces_as_plates = false_plates(threshold)
    seconds = float(np.median(dev.seconds))
    face = float(np.median(face_seconds))
    ratios = np.asarray(dev.seconds) / np.maximum(np.asarray(face_seconds), 1e-9)
    needs = needed_padding(truths, dev.plates, threshold)
    return {
        "variant": name,
        "threshold": threshold,
        "padding": padding,
        "recall_eu": by_region("eu", threshold),
        "recall_br": by_region("br", threshold),
        "recall_mosaic": {str(n): recall(mosaic_truth[n], mosaic_found[n], threshold) for n in sorted(mosaic_found)},
        "covered": covered_share(threshold, padding),
        "false_plates_per_photo": fp_rate,
        "wider_photos": len(wider.plates),
        "faces_as_plates": faces_as_plates,
        "seconds_per_photo": seconds,
        "seconds_mean": float(np.mean(dev.seconds)),
        "face_seconds_per_photo": face,
        "ratio_to_faces": float(np.median(ratios)),
        "by_threshold": [
            {
                "threshold": t,
                "recall_eu": by_region("eu", t),
                "recall_br": by_region("br", t),
                "recall_mosaic": {str(n): recall(mosaic_truth[n], mosaic_found[n], t) for n in sorted(mosaic_found)},
                "false_plates_per_photo": false_plates(t)[0],
                "faces_as_plates": false_plates(t)[1],
            }
            for t in THRESHOLDS
        ],
        "covered_by_padding": {f"{pad:.1f}": covered_share(threshold, pad) for pad in PADDINGS},
        "needed_padding_quantiles": {
            q: float(np.quantile(needs, float(q))) if len(needs) else None for q in ("0.5", "0.9", "0.95", "0.99", "1")
        },
    }


# --------------------------------------------------------------------------------------------------------- tables


def main_table(rows: list[dict]) -> str:
    mosaic_names = list(rows[0]["recall_mosaic"]) if rows else []
    header = [
        "variant",
        "thr",
        "R eu",
        "R br",
        *(f"R {n}x{n}" for n in mosaic_names),
        "covered",
        "false/photo",
        "faces",
        "s/photo",
        "x face pass",
    ]
    lines = [
        [
            row["variant"],
            f"{row['threshold']:.2f}",
            f"{row['recall_eu']:.3f}",
            f"{row['recall_br']:.3f}",
            *(f"{row['recall_mosaic'][n]:.3f}" for n in mosaic_names),
            f"{row['covered']:.3f}",
            f"{row['false_plates_per_photo']:.3f}",
            str(row["faces_as_plates"]),
            f"{row['seconds_per_photo']:.3f}",
            f"{row['ratio_to_faces']:.2f}",
        ]
        for row in rows
    ]
    return markdown_table(header, lines)


def threshold_table(rows: list[dict]) -> str:
    header = ["variant", "thr", "R eu", "R br", "R mosaics", "false/photo", "faces"]
    lines = [
        [
            row["variant"],
            f"{entry['threshold']:.2f}",
            f"{entry['recall_eu']:.3f}",
            f"{entry['recall_br']:.3f}",
            " ".join(f"{value:.3f}" for value in entry["recall_mosaic"].values()),
            f"{entry['false_plates_per_photo']:.3f}",
            str(entry["faces_as_plates"]),
        ]
        for row in rows
        for entry in row["by_threshold"]
    ]
    return markdown_table(header, lines)


def padding_table(rows: list[dict]) -> str:
    header = ["variant", *(f"pad {p}" for p in rows[0]["covered_by_padding"]), "need p50/p90/p95/p99/max"]
    lines = [
        [
            row["variant"],
            *(f"{value:.3f}" for value in row["covered_by_padding"].values()),
            "/".join("-" if v is None else f"{v:.2f}" for v in row["needed_padding_quantiles"].values()),
        ]
        for row in rows
    ]
    return markdown_table(header, lines)


# ------------------------------------------------------------------------------------------------------------ run


def timed(detect: Callable[[], Plates]) -> tuple[Plates, float]:
    started = time.perf_counter()
    found = detect()
    return found, time.perf_counter() - started


def run_each(variants: dict[str, PlateDetector], image: np.ndarray, into: dict[str, Found]) -> None:
    """Every variant on the image in turn, its plates and seconds recorded."""
    for name, detector in variants.items():
        found, seconds = timed(lambda: detector.detect(image))  # noqa: B023
        into[name].plates.append(found)
        into[name].seconds.append(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help="comma-separated: shipped, fp32-N, int8-N[+look]")
    parser.add_argument("--threshold", type=float, default=PLATE_THRESHOLD)
    parser.add_argument("--padding", type=float, default=PLATE_PADDING)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of each model (service: 1)")
    parser.add_argument("--wider-stride", type=int, default=1, help="use every n-th WIDER FACE photo")
    parser.add_argument("--no-mosaics", action="store_true")
    parser.add_argument("--json", type=Path, default=OUT_DIR / "plates.json")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    photos = load_plates_dev()
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    variants = {name: build_variant(name, args.threads) for name in names}
    faces = load_detector(YOLO_MODEL, args.threads, with_centerface=False)
    preset = PRESETS[DEFAULT_PRESET]

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr)

    # plates_dev: every variant and the face detector on each photo in turn, so load on the machine hits all alike.
    dev = {name: Found() for name in variants}
    face_seconds: list[float] = []
    for index, photo in enumerate(photos):
        image = read_rgb(photo.path)
        if index == 0:  # warm-up: first runs allocate
            faces.detect(image, preset)
            for detector in variants.values():
                detector.detect(image)
        face_seconds.append(timed(lambda: faces.detect(image, preset))[1])  # type: ignore[arg-type]  # noqa: B023
        run_each(variants, image, dev)
        if (index + 1) % 50 == 0:
            say(f"  plates_dev {index + 1}/{len(photos)}")

    mosaic_truth: dict[int, list[np.ndarray]] = {}
    mosaic_found: dict[int, list[Plates]] = {name: {} for name in variants}  # type: ignore[misc]
    for cells in () if args.no_mosaics else MOSAICS:
        canvases = mosaics(photos, cells)
        mosaic_truth[cells] = [boxes for _, boxes, _ in canvases]
        for name, detector in variants.items():
            mosaic_found[name][cells] = [detector.detect(image) for image, _, _ in canvases]  # type: ignore[index]
        say(f"  mosaics {cells}x{cells}: {len(canvases)}")

    wider_samples = load_wider(DATASETS["wider_train"]).samples[:: args.wider_stride]
    wider = {name: Found() for name in variants}
    for index, sample in enumerate(wider_samples):
        image = read_rgb(sample.path)
        run_each(variants, image, wider)
        if (index + 1) % 100 == 0:
            say(f"  wider_train {index + 1}/{len(wider_samples)}")
    wider_faces = [sample.boxes for sample in wider_samples]

    rows = [
        summarize(
            name,
            photos,
            dev[name],
            mosaic_truth,
            mosaic_found[name],  # type: ignore[arg-type]
            wider_faces,
            wider[name],
            face_seconds,
            args.threshold,
            args.padding,
        )
        for name in variants
    ]
    face_time = float(np.median(face_seconds))
    print(
        f"plates_dev: {sum(p.region == 'eu' for p in photos)} eu + {sum(p.region == 'br' for p in photos)} br photos; "
        f"wider_train: {len(wider_samples)} photos; face pass ({faces.name}, preset {preset.name}): "
        f"{face_time:.3f} s/photo; {args.threads} thread(s) per model; medians per photo"
    )
    print(main_table(rows))
    print(f"\nBy threshold (mosaics: {', '.join(f'{n}x{n}' for n in mosaic_truth)}):")
    print(threshold_table(rows))
    print("\nCovered share by padding (x box height, at each variant's threshold), and the padding matches need:")
    print(padding_table(rows))
    meta = {
        "threads": args.threads,
        "wider_stride": args.wider_stride,
        "face_detector": faces.name,
        "face_preset": preset.name,
        "face_seconds_per_photo": face_time,
        "collect": COLLECT,
    }
    write_run(args.json, meta, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
