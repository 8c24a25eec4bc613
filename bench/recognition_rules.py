"""How the recognition rules' constants were measured: in process (the service's detection, alignment and SFace,
as an embed job runs them), on LFW folds 1-5, with every photo's faces cached so the analysis reruns in seconds.

    python -m bench.recognition_rules [--cache /tmp/faceblur-rules] [--workers 2] [--preset fast]

1. The main face (faceblur_proto/main_face.py). Labels: in a photo of person X with several faces, X's face is
   the one that best matches X's other photos (mean over them of the best match in each), where that is clear
   (>= 0.45, and 0.15 above the next face). A conditional logit (softmax over a photo's faces) of
   [log(side / largest side), distance from the centre / half-diagonal, confidence] is fitted on the labelled
   photos of 4 folds' people and tested on the 5th fold's (label accuracy), and verification (5-fold protocol,
   threshold from 4 folds) is scored with the weights fitted without the tested fold: the first photo's face by
   the rule against the second's by the rule, and against every face of the second (the best match). Beside it
   the largest face and the face nearest the centre. MIN_MAIN_SHARE: the top softmax share on LFW's multi-face
   photos (photos of one person) against WIDER FACE's group, couple and interview photos (faces >= 40 px, their
   annotated boxes).
2. Several photos per subject: LFW people with >= 4 photos, each enrolled from its first 3 photos that pass the
   quality gate (or 1), probes their next 10 photos (at most), strangers every photo of the people with fewer than
   4. Each subject scored by its best face, the mean of the similarities, or a template (the normalized mean of the
   vectors); figures at equal shares of strangers matched. Then how often a stranger reaches a template of k faces
   against one face (TEMPLATE_FALSE_ACCEPT_FACTOR in gateway_service/galleries/matching.py).
3. The quality gate (gateway_service/galleries/quality.py): photo B of fold 1's 600 pairs made smaller (the face's
   long side 96 to 16 px, on a grey 640 px canvas) or blurred (a Gaussian of 1 % to 8 % of the face's size) and
   run through the pipeline; same-person pairs' match rate at the verify threshold (0.363) and at 0.5 (about
   where spare_gallery's threshold sits) by level and by sharpness; and, for turn, LFW's same-person pairs of a
   turned photo against frontal ones (LFW has few strongly turned faces: the figure rests on a few people).

The caches: about 45 minutes of a shared 2-core machine for the 5,373 photos, 25 for the degraded ones.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from bench.common import DATASETS, LFW, REPO_ROOT, SHARED

WIDER = DATASETS["wider_train"]
MODEL = SHARED / "models" / "yolov8n-face_int8.tflite"
VERIFY = 0.363
SPARE_LIKE = 0.5
_WORKER: dict = {}


# --- caches ------------------------------------------------------------------------------------------------------


def _init_worker(preset: str) -> None:
    from face_detection_service.detection.loader import load_detector
    from face_detection_service.detection.presets import get_preset
    from face_detection_service.jobs import JobSpec
    from face_detection_service.recognition.embedder import load_embedder

    _WORKER.update(
        detector=load_detector(MODEL, 1),
        embedder=load_embedder("", 1),
        spec=JobSpec(blur=False, preset=get_preset(preset), embed=True),
    )


def _faces_of(rgb: np.ndarray) -> dict:
    """Every face of an RGB image as an embed job finds it, with its aligned crop."""
    from face_detection_service.jobs import detect_faces
    from face_detection_service.recognition.align import align_face, has_landmarks

    height, width = rgb.shape[:2]
    faces = detect_faces(rgb, width, height, _WORKER["spec"], _WORKER["detector"])
    crops = np.zeros((len(faces), 112, 112, 3), np.uint8)
    known = np.array([has_landmarks(points) for points in faces.landmarks], bool)
    for i in np.flatnonzero(known):
        crops[i] = align_face(rgb, faces.landmarks[i], 112)
    embeddings = np.full((len(faces), 128), np.nan, np.float32)
    if known.any():
        embeddings[known] = _WORKER["embedder"].embed(crops[known])
    return {
        "wh": np.array([width, height]),
        "boxes": faces.boxes.astype(np.float32),
        "conf": faces.scores.astype(np.float32),
        "lm": faces.landmarks.astype(np.float32),
        "emb": embeddings,
        "crops": crops,
    }


def _embed_photos(paths: list[str]) -> dict[str, dict]:
    from face_detection_service.imaging import decode, read_header, to_rgb8

    found = {}
    for path in paths:
        data = Path(path).read_bytes()
        found[path] = _faces_of(to_rgb8(decode(data, read_header(data, 10**9))))
    return found


def degraded(rgb: np.ndarray, kind: str, level: float, face_side: float) -> np.ndarray:
    """``size``: the photo shrunk so the face's long side is ``level`` px, in the middle of a grey 640 px canvas
    (so the detector sees it small); ``blur``: a Gaussian blur of ``level`` x the face's side."""
    import cv2

    if kind == "size":
        factor = level / face_side
        size = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        canvas = np.full((640, 640, 3), 118, np.uint8)
        y, x = (640 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[y : y + small.shape[0], x : x + small.shape[1]] = small
        return canvas
    return cv2.GaussianBlur(rgb, (0, 0), level * face_side)


DEGRADATIONS = [("size", s) for s in (96, 72, 56, 48, 40, 32, 26, 20, 16)] + [
    ("blur", b) for b in (0.01, 0.02, 0.03, 0.045, 0.06, 0.08)
]


def _degrade_photo(job: tuple[str, float]) -> list[tuple[str, str, float, dict | None]]:
    import cv2

    path, face_side = job
    rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
    out = []
    for kind, level in DEGRADATIONS:
        image = degraded(rgb, kind, level, face_side)
        faces = _faces_of(image)
        index = centre_index(faces)
        record = None
        if index is not None:
            record = {key: faces[key][index] for key in ("boxes", "conf", "lm", "emb", "crops")}
        out.append((path, kind, level, record))
    return out


def build_cache(cache: Path, preset: str, workers: int) -> dict[str, dict]:
    target = cache / f"lfw_{preset}.pkl"
    if target.exists():
        return pickle.loads(target.read_bytes())
    photos = sorted(str(p) for p in (LFW / "images").glob("*/*.jpg"))
    chunks = [photos[i : i + 50] for i in range(0, len(photos), 50)]
    found: dict[str, dict] = {}
    started = time.monotonic()
    with Pool(workers, initializer=_init_worker, initargs=(preset,)) as pool:
        for number, part in enumerate(pool.imap_unordered(_embed_photos, chunks), 1):
            found.update(part)
            print(f"  cache: {number}/{len(chunks)} chunks, {time.monotonic() - started:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(found, protocol=4))
    return found


def build_degraded(cache: Path, faces: dict[str, dict], workers: int) -> list:
    target = cache / "degraded_fold1.pkl"
    if target.exists():
        return pickle.loads(target.read_bytes())
    jobs = []
    for path in sorted({b for a, b, _ in read_folds()[0]}):
        index = centre_index(faces[path])
        if index is not None:
            x1, y1, x2, y2 = faces[path]["boxes"][index]
            jobs.append((path, float(max(x2 - x1, y2 - y1))))
    results: list = []
    with Pool(workers, initializer=_init_worker, initargs=("fast",)) as pool:
        for part in pool.imap_unordered(_degrade_photo, jobs, chunksize=4):
            results += part
    target.write_bytes(pickle.dumps(results, protocol=4))
    return results


# --- LFW helpers -------------------------------------------------------------------------------------------------


def lfw_photo(name: str, number: str) -> str:
    return str(LFW / "images" / name / f"{name}_{int(number):04d}.jpg")


def read_folds() -> list[list[tuple[str, str, bool]]]:
    rows = [line.split() for line in (LFW / "pairs.txt").read_text().split("\n")[1:] if line.strip()]
    folds = []
    for fold in range(5):
        block = rows[fold * 600 : (fold + 1) * 600]
        folds.append(
            [(lfw_photo(r[0], r[1]), lfw_photo(r[0], r[2]), True) for r in block[:300]]
            + [(lfw_photo(r[0], r[1]), lfw_photo(r[2], r[3]), False) for r in block[300:]]
        )
    return folds


def people() -> dict[str, list[str]]:
    return {d.name: sorted(str(p) for p in d.glob("*.jpg")) for d in sorted((LFW / "images").iterdir())}


def embedded(record: dict) -> np.ndarray:
    return np.flatnonzero(np.isfinite(record["emb"]).all(axis=1))


def centre_index(record: dict) -> int | None:
    known = embedded(record)
    if not len(known):
        return None
    width, height = record["wh"]
    centres = (record["boxes"][known, :2] + record["boxes"][known, 2:]) / 2
    return int(known[int(np.argmin(np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2)))])


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order]
    correct = np.concatenate([np.cumsum(y[::-1])[::-1], [0]]) + np.concatenate([[0], np.cumsum(~y)])
    best = int(np.argmax(correct))
    if best == 0:
        return float(s[0] - 1e-6)
    return float(s[-1] + 1e-6) if best == len(s) else float((s[best - 1] + s[best]) / 2)


def five_fold_accuracy(scores: list[np.ndarray], same: list[np.ndarray]) -> tuple[float, list[float]]:
    accuracies = []
    for held_out in range(5):
        train = [i for i in range(5) if i != held_out]
        threshold = best_threshold(np.concatenate([scores[i] for i in train]), np.concatenate([same[i] for i in train]))
        accuracies.append(float(((scores[held_out] >= threshold) == same[held_out]).mean()))
    return float(np.mean(accuracies)), accuracies


# --- 1. the main face ---------------------------------------------------------------------------------------------


def rule_features(record: dict) -> np.ndarray:
    """[log(side / largest side), distance from the centre / half-diagonal, confidence] of each embedded face."""
    known = embedded(record)
    boxes = record["boxes"][known]
    width, height = record["wh"]
    sides = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    distance = np.hypot(centres[:, 0] - width / 2, centres[:, 1] - height / 2) / np.hypot(width / 2, height / 2)
    return np.stack([np.log(sides / sides.max()), distance, record["conf"][known]], 1)


def main_face_labels(faces: dict[str, dict]) -> dict[str, int]:
    """photo -> the position (among its embedded faces) of its person's face, where that is clear."""
    labels = {}
    for photos in people().values():
        if len(photos) < 2:
            continue
        for photo in photos:
            known = embedded(faces[photo])
            if len(known) < 2:
                continue
            vectors = faces[photo]["emb"][known]
            scores = []
            for other in photos:
                others = faces[other]["emb"][embedded(faces[other])]
                if other != photo and len(others):
                    scores.append((vectors @ others.T).max(1))
            if not scores:
                continue
            mean = np.mean(scores, 0)
            order = np.argsort(-mean)
            if mean[order[0]] >= 0.45 and mean[order[0]] - mean[order[1]] >= 0.15:
                labels[photo] = int(order[0])
    return labels


def fit_rule(faces: dict[str, dict], labels: dict[str, int], photos: list[str]) -> np.ndarray:
    """Weights [size, centre (negative: nearer is better), confidence] of the conditional logit, L2 0.01."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    features = [rule_features(faces[p]) for p in photos]
    targets = [labels[p] for p in photos]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = 0.0, np.zeros(3)
        for x, target in zip(features, targets, strict=True):
            s = x @ w
            total = logsumexp(s)
            value += total - s[target]
            gradient += np.exp(s - total) @ x - x[target]
        return value + 0.01 * w @ w, gradient + 0.02 * w

    return minimize(loss, np.array([1.0, -1.0, 1.0]), jac=True, method="L-BFGS-B").x


def main_face_study(faces: dict[str, dict]) -> dict:
    folds = read_folds()
    fold_of = {Path(p).parent.name: k for k, fold in enumerate(folds) for a, b, _ in fold for p in (a, b)}
    labels = main_face_labels(faces)
    rules = {"largest": np.array([1.0, 0, 0]), "centre": np.array([0, -1.0, 0])}
    per_fold = []
    fitted = []
    for held_out in range(5):
        train = [p for p in labels if fold_of.get(Path(p).parent.name) != held_out]
        test = [p for p in labels if fold_of.get(Path(p).parent.name) == held_out]
        w = fit_rule(faces, labels, train)
        fitted.append(w)
        row = {"fold": held_out + 1, "weights": np.round(w, 3).tolist(), "labelled_photos": len(test)}
        for name, weights in {**rules, "rule": w}.items():
            row[name] = float(np.mean([int(np.argmax(rule_features(faces[p]) @ weights)) == labels[p] for p in test]))
        per_fold.append(row)
    same = [np.array([s for _, _, s in fold]) for fold in folds]

    def pick(photo: str, w: np.ndarray) -> int | None:
        known = embedded(faces[photo])
        return None if not len(known) else int(known[int(np.argmax(rule_features(faces[photo]) @ w))])

    def score(a: str, b: str, wa: np.ndarray, wb: np.ndarray | None) -> float:
        ia = pick(a, wa)
        if ia is None or not len(embedded(faces[b])):
            return -1.0
        probe = faces[a]["emb"][ia]
        if wb is None:  # every face of the second photo: the best match
            return float((faces[b]["emb"][embedded(faces[b])] @ probe).max())
        return float(faces[b]["emb"][pick(b, wb)] @ probe)

    verification = {}
    for label, (first, second) in {
        "largest vs largest (today)": ("largest", "largest"),
        "largest vs every face": ("largest", None),
        "centre vs centre": ("centre", "centre"),
        "rule vs rule": ("rule", "rule"),
        "rule vs every face (verify now)": ("rule", None),
    }.items():
        scores = []
        for k, fold in enumerate(folds):
            wa = fitted[k] if first == "rule" else rules[first]
            wb = None if second is None else (fitted[k] if second == "rule" else rules[second])
            scores.append(np.array([score(a, b, wa, wb) for a, b, _ in fold]))
        mean, accuracies = five_fold_accuracy(scores, same)
        verification[label] = {"mean": mean, "folds": accuracies}
    several = sum(1 for fold in folds for a, b, _ in fold if len(embedded(faces[a])) > 1 or len(embedded(faces[b])) > 1)
    return {
        "labelled_photos": len(labels),
        "photos_with_several_faces": sum(1 for r in faces.values() if len(embedded(r)) > 1),
        "pairs_with_several_faces_on_a_side": several,
        "per_fold": per_fold,
        "weights_all_folds": np.round(fit_rule(faces, labels, list(labels)), 3).tolist(),
        "verification": verification,
    }


def share_study(faces: dict[str, dict]) -> dict:
    """The main face's softmax share, with the shipped weights, on LFW's photos of one person with several faces
    and on WIDER FACE's photos of several people (annotated boxes >= 40 px, confidence alike)."""
    from faceblur_proto.main_face import Candidate, main_share

    lfw = []
    for record in faces.values():
        known = embedded(record)
        if len(known) > 1:
            candidates = [Candidate(tuple(map(float, record["boxes"][i])), float(record["conf"][i])) for i in known]
            lfw.append(max(main_share(candidates, *map(float, record["wh"]))))
    ground_truth = json.loads((WIDER / "gt.json").read_text())
    result = {"lfw": _share_summary(np.array(lfw))}
    for event in ("20--Family_Group", "19--Couple", "13--Interview", "1--Handshaking", "4--Dancing"):
        shares = []
        for name, truth in ground_truth.items():
            boxes = [
                b
                for b, invalid in zip(truth["boxes"], truth["invalid"], strict=True)
                if not invalid and max(b[2] - b[0], b[3] - b[1]) >= 40
            ]
            if name.startswith(event) and len(boxes) > 1:
                shares.append(max(main_share([Candidate(b, 0.8) for b in boxes], *truth["wh"])))
        result[event] = _share_summary(np.array(shares))
    return result


def _share_summary(shares: np.ndarray) -> dict:
    return {
        "photos": len(shares),
        **{f"below_{t}": float((shares < t).mean()) for t in (0.8, 0.9, 0.95)},
        "median": float(np.median(shares)),
    }


# --- 2. several photos per subject ---------------------------------------------------------------------------------


def subject_study(faces: dict[str, dict], probes_per_person: int = 10) -> dict:
    from gateway_service.galleries.quality import FaceQuality, turn

    def main_vector(photo: str) -> tuple[np.ndarray | None, bool]:
        record = faces[photo]
        index = _rule_index(record)
        if index is None:
            return None, False
        x1, y1, x2, y2 = record["boxes"][index]
        quality = FaceQuality(
            float(max(x2 - x1, y2 - y1)),
            _sharpness(record["crops"][index]),
            turn([(float(x), float(y)) for x, y in record["lm"][index]]),
        )
        return record["emb"][index], quality.problem() is None

    main = {photo: main_vector(photo) for photo in faces}
    enrolled, probes = {}, []
    for name, photos in people().items():
        if len(photos) < 4:
            continue
        passing = [p for p in photos if main[p][0] is not None and main[p][1]]
        enrolled[name] = passing[:3]
        probes += [(p, name) for p in photos if p not in passing[:3]][:probes_per_person]
    names = sorted(enrolled)
    strangers = [p for name, photos in people().items() if len(photos) < 4 for p in photos]

    def vectors(photos: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each photo's main-face vector (zeros without one) and whether it passes the quality gate."""
        rows = [main[p][0] if main[p][0] is not None else np.zeros(128, np.float32) for p in photos]
        return np.stack(rows), np.array([main[p][0] is not None and main[p][1] for p in photos])

    probe_vectors, probe_ok = vectors([p for p, _ in probes])
    stranger_vectors, stranger_ok = vectors(strangers)
    own = np.array([names.index(n) for _, n in probes])
    report: dict = {
        "people": len(names),
        "probes": len(probes),
        "probes_failing_the_gate": int((~probe_ok).sum()),
        "strangers": len(strangers),
        "strangers_failing_the_gate": int((~stranger_ok).sum()),
    }
    for photos_each in (1, 3):
        galleries = [np.stack([main[p][0] for p in enrolled[n][:photos_each]]) for n in names]
        for strategy in ("best", "mean", "template") if photos_each > 1 else ("template",):

            def subject_scores(x: np.ndarray, galleries: list = galleries, strategy: str = strategy) -> np.ndarray:
                if strategy == "best":
                    return np.stack([(x @ g.T).max(1) for g in galleries], 1)
                if strategy == "mean":
                    return np.stack([(x @ g.T).mean(1) for g in galleries], 1)
                templates = np.stack([g.mean(0) / np.linalg.norm(g.mean(0)) for g in galleries])
                return x @ templates.T

            probe_scores = subject_scores(probe_vectors)
            best_probe = np.where(probe_ok, probe_scores.max(1), -1)
            best_stranger = np.where(stranger_ok, subject_scores(stranger_vectors).max(1), -1)
            row = {"rank1": float((probe_scores.argmax(1) == own)[probe_ok].mean())}
            for rate in (0.001, 0.002, 0.005):
                threshold = float(np.quantile(best_stranger, 1 - rate))
                row[f"strangers_{rate:.1%}"] = {
                    "threshold": round(threshold, 4),
                    "enrolled_matched": float((best_probe >= threshold).mean()),
                }
            report[f"{photos_each}_photo{'s' if photos_each > 1 else ''}_{strategy}"] = row
    # A stranger against a template of k faces, and against one face.
    stranger_set = stranger_vectors[stranger_ok]
    grid = np.round(np.arange(0.35, 0.451, 0.025), 3)
    rates = {}
    for k in (1, 2, 3, 4, 5, 8):
        templates = []
        for photos in people().values():
            vectors_k = [main[p][0] for p in photos if main[p][0] is not None and main[p][1]]
            if len(photos) >= 4 and len(vectors_k) >= k:
                mean = np.mean(vectors_k[:k], 0)
                templates.append(mean / np.linalg.norm(mean))
        scores = (stranger_set @ np.stack(templates).T).ravel()
        rates[k] = np.array([(scores >= t).mean() for t in grid])
    report["template_false_accepts"] = {
        str(k): {
            "far": {f"{t:.3f}": float(f) for t, f in zip(grid, rates[k], strict=True)},
            "factor": float(np.exp(np.mean(np.log(rates[k] / rates[1])))),
        }
        for k in rates
    }
    return report


def _rule_index(record: dict) -> int | None:
    from faceblur_proto.main_face import Candidate, main_face

    known = embedded(record)
    if not len(known):
        return None
    candidates = [Candidate(tuple(map(float, record["boxes"][i])), float(record["conf"][i])) for i in known]
    return int(known[main_face(candidates, *map(float, record["wh"]))])


def _sharpness(crop: np.ndarray) -> float:
    from face_detection_service.recognition.quality import sharpness

    return sharpness(crop)


# --- 3. the quality gate --------------------------------------------------------------------------------------------


def quality_study(faces: dict[str, dict], degraded_results: list) -> dict:
    from gateway_service.galleries.quality import turn

    fold = read_folds()[0]
    by_level = {(path, kind, level): record for path, kind, level, record in degraded_results}
    reference = {p: faces[p]["emb"][centre_index(faces[p])] for p in faces if centre_index(faces[p]) is not None}
    levels = {}
    pooled = []
    for kind, level in DEGRADATIONS:
        scores, sharp = [], []
        for a, b, same in fold:
            if not same or a not in reference:
                continue
            record = by_level.get((b, kind, level))
            scores.append(float(reference[a] @ record["emb"]) if record is not None else -1.0)
            if record is not None:
                sharp.append(_sharpness(record["crops"]))
                pooled.append((sharp[-1], scores[-1]))
        s = np.array(scores)
        levels[f"{kind} {level}"] = {
            "match_at_verify": float((s >= VERIFY).mean()),
            "match_at_0.5": float((s >= SPARE_LIKE).mean()),
            "median_similarity": float(np.median(s)),
            "median_sharpness": float(np.median(sharp)) if sharp else None,
        }
    pooled_array = np.array(pooled)
    by_sharpness = {}
    edges = [0, 0.2, 0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 1.0, 9.0]
    for low, high in itertools.pairwise(edges):
        m = (pooled_array[:, 0] >= low) & (pooled_array[:, 0] < high)
        if m.sum():
            by_sharpness[f"[{low}, {high})"] = {
                "faces": int(m.sum()),
                "match_at_verify": float((pooled_array[m, 1] >= VERIFY).mean()),
                "match_at_0.5": float((pooled_array[m, 1] >= SPARE_LIKE).mean()),
            }
    # Turn: LFW same-person pairs, a photo of turn t against the person's frontal (turn < 0.2) photos.
    pairs, people_in = [], {}
    for name, photos in people().items():
        known = [(p, centre_index(faces[p])) for p in photos]
        known = [(p, i) for p, i in known if i is not None]
        if len(known) < 2:
            continue
        vectors = np.stack([faces[p]["emb"][i] for p, i in known])
        turns = np.array([turn([(float(x), float(y)) for x, y in faces[p]["lm"][i]]) for p, i in known])
        for j in range(len(known)):
            for k in np.flatnonzero(turns < 0.2):
                if k != j:
                    pairs.append((turns[j], float(vectors[j] @ vectors[k])))
                    people_in.setdefault(round(float(turns[j]), 1), set()).add(name)
    pairs_array = np.array(pairs)
    by_turn = {}
    edges = [0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.9, 9.0]
    for low, high in itertools.pairwise(edges):
        m = (pairs_array[:, 0] >= low) & (pairs_array[:, 0] < high)
        names = set().union(*(v for t, v in people_in.items() if low <= t < high)) if m.sum() else set()
        by_turn[f"[{low}, {high})"] = {
            "pairs": int(m.sum()),
            "people": len(names),
            "match_at_verify": float((pairs_array[m, 1] >= VERIFY).mean()) if m.sum() else None,
            "match_at_0.5": float((pairs_array[m, 1] >= SPARE_LIKE).mean()) if m.sum() else None,
        }
    natural = np.array([_sharpness(r["crops"][i]) for r in faces.values() if (i := centre_index(r)) is not None])
    return {
        "levels": levels,
        "by_sharpness": by_sharpness,
        "by_turn": by_turn,
        "lfw_sharpness_quantiles": {str(q): float(np.quantile(natural, q)) for q in (0.005, 0.01, 0.05, 0.5)},
        "lfw_share_below_0.5": float((natural < 0.5).mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faceblur-rules"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "out" / "recognition_rules.json")
    args = parser.parse_args()
    faces = build_cache(args.cache, args.preset, args.workers)
    report = {"preset": args.preset, "main_face": main_face_study(faces), "main_share": share_study(faces)}
    print(json.dumps(report, indent=1), flush=True)
    report["subjects"] = subject_study(faces)
    print(json.dumps(report["subjects"], indent=1), flush=True)
    report["quality"] = quality_study(faces, build_degraded(args.cache, faces, args.workers))
    print(json.dumps(report["quality"], indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
