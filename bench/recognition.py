"""Face recognition measured through the running stack (the service's own detection and alignment).

    python -m bench.recognition [--preset fast] [--collages 200] [--wider 200] [--probe-limit 1500] [--no-dlib]

Starts its own stack (Redis, one face service with a worker per core, one gateway) and measures:

1. LFW verification (../shared/data/lfw_dev/pairs.txt, 5 folds x 600 pairs): every photo named in the pairs is
   embedded once through POST /embed_faces (32 files a request); a photo stands for the face nearest its centre
   (LFW centres the person it names; background people are often as large, rarely larger), and the cosine
   similarity is computed here. Beside it every rule verify could follow (VERIFY_RULES), from the same embeddings:
   /verify_faces today (largest face of each photo) and now (the first photo's main face, faceblur_proto.main_face,
   against every face of the second: the best match); ``--verify-api-pairs`` pairs also go through POST
   /verify_faces to show it answers the similarity computed here (3000: all, and the 5-fold figure from the API's
   own answers). 5-fold protocol: the threshold that maximises accuracy on 4 folds is tested on
   the 5th; mean +- std over the 5. A pair with a photo without a face counts as an error at any threshold.
   Beside it, the same pairs and protocol with `face_recognition` (dlib's ResNet, its HOG detector), when
   installed (`pip install dlib-bin face_recognition_models face_recognition --no-deps`).
2. Open-set identification on lfw_dev: every person with >= 2 photos is enrolled through the API from photo 0001
   (face=largest) into a fresh gallery; their other photos are the known probes (rank-1: the top match is the
   right person), people with exactly one photo (never enrolled) the unknown probes (the share given a subject
   at the identify / spare thresholds). The matching of every probe is done here with the service's own
   GalleryVectors.best_matches on the gallery read back from Redis; a seeded subset of probes also goes through
   POST /galleries/{g}/identify to show the API answers the same.
3. spare_gallery / only_gallery on 2x2 collages of four LFW photos (250 px tiles): two people enrolled in the
   gallery of step 2 (another photo than the enrolled one), two never-enrolled people; result faces are mapped
   to tiles by box centre, the face nearest each tile's centre is the tile's person, other faces (background
   people) are counted apart. Then as a user meets it: each collage's two people enrolled (photo 0001, face=largest)
   in a gallery of their own; the collages embedded once and every tile's person matched here against its own
   gallery and against the big one for a sweep of thresholds, the false-accept rate of one comparison measured on
   every pair of different people at hand (the table behind spare_threshold), and spare_gallery through the API
   with the own galleries at the threshold the gateway's size rule gives.
4. Anonymization checked by recognition: WIDER FACE photos through POST /blur_faces (default options, or each
   variant of --blur-options, e.g. 'default;mask=box;box_scale=1.6', on the same photos); each
   face found (>= 32 px wide) is aligned with the landmarks of that result (from the original image) in the
   original and in the blurred image, embedded in process with the service's embedder, and compared. Beside the
   issue's figure (the share below the verify threshold), re-identification: how often a face's own blur is the
   blurred face nearest to its original, against chance, and how many other people's blurs each original that
   stays at or above the threshold matches as well.
6. Several photos per subject: one gallery of every LFW person with >= 4 photos (283), enrolled through the API
   from 1 photo each and, in another gallery, from 3 photos each (one request per person, as a user would: a photo
   the API refuses is replaced by the person's next one). Probes: their other photos (``--subject-probes`` each at
   most) and every photo of the people with fewer than 4 (never enrolled). spare_gallery (enrolled / strangers left
   visible) and identify (rank-1, named right and strangers named at the identify threshold) as the gateway decides
   them, computed here from the /embed_faces results and the galleries read back from Redis, beside today's rule on
   the same galleries (each subject's best face, the size rule on the number of faces, no quality gate); a seeded
   subset through POST /blur_faces with spare_gallery as a check.
5. Gallery matching cost: GalleryVectors.best_matches per query and GalleryStore.vectors() (reload after a
   change, through GalleryCache) from a real Redis for galleries of 1k, 10k and 100k synthetic unit vectors.

Prints a report and writes bench/out/recognition.json. The defaults took 35 minutes on a shared 2-core machine
(4,468 LFW photos embedded at 0.3-0.45 s each while dlib ran beside them); --skip 1,2,3 --no-dlib runs steps 4
and 5 alone in a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import importlib.util
import io
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import DATASETS, LFW, REPO_ROOT, write_results

WIDER = DATASETS["wider_train"]
OUT = REPO_ROOT / "bench" / "out" / "recognition.json"
TILE = 250
LOG_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - LOG_STARTED:7.1f} s] {message}", flush=True)


# --- LFW -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool


def lfw_photo(name: str, number: int | str) -> Path:
    return LFW / "images" / name / f"{name}_{int(number):04d}.jpg"


def read_pairs(path: Path, per_fold: int = 0) -> list[list[Pair]]:
    """The folds of an LFW pairs file: ``size`` same-person pairs, then ``size`` different-person pairs each
    (``per_fold`` > 0: only the first that many of each kind, for a quick try)."""
    lines = path.read_text().split("\n")
    folds, size = (int(v) for v in lines[0].split())
    rows = [line.split() for line in lines[1:] if line.strip()]
    result = []
    for fold in range(folds):
        block = rows[fold * 2 * size : (fold + 1) * 2 * size]
        same = [Pair(lfw_photo(r[0], r[1]), lfw_photo(r[0], r[2]), True) for r in block[:size]]
        different = [Pair(lfw_photo(r[0], r[1]), lfw_photo(r[2], r[3]), False) for r in block[size:]]
        result.append(same[: per_fold or size] + different[: per_fold or size])
    return result


def lfw_people() -> dict[str, list[Path]]:
    return {
        person.name: sorted(person.glob("*.jpg")) for person in sorted((LFW / "images").iterdir()) if person.is_dir()
    }


def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The threshold (``score >= t`` means same; midway between neighbouring scores) of the highest accuracy."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order]
    # Cutting before position i: everything from i on is called "same".
    same_at_or_above = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    different_below = np.concatenate([[0], np.cumsum(~y)])
    correct = same_at_or_above + different_below
    best = int(np.argmax(correct))
    if best == 0:
        threshold = s[0] - 1e-6
    elif best == len(s):
        threshold = s[-1] + 1e-6
    else:
        threshold = (s[best - 1] + s[best]) / 2
    return float(threshold), float(correct[best] / len(s))


def five_fold(scores: list[np.ndarray], same: list[np.ndarray], valid: list[np.ndarray]) -> dict:
    """Threshold from 4 folds (their valid pairs), accuracy on the 5th with invalid pairs counted wrong."""
    accuracies, thresholds = [], []
    for held_out in range(len(scores)):
        train = [i for i in range(len(scores)) if i != held_out]
        train_scores = np.concatenate([scores[i][valid[i]] for i in train])
        train_same = np.concatenate([same[i][valid[i]] for i in train])
        threshold, _ = best_threshold(train_scores, train_same)
        correct = ((scores[held_out] >= threshold) == same[held_out]) & valid[held_out]
        thresholds.append(threshold)
        accuracies.append(float(correct.mean()))
    all_scores, all_same, all_valid = (np.concatenate(x) for x in (scores, same, valid))
    global_threshold, _ = best_threshold(all_scores[all_valid], all_same[all_valid])
    global_accuracy = float((((all_scores >= global_threshold) == all_same) & all_valid).mean())
    return {
        "mean_accuracy": statistics.mean(accuracies),
        "std_accuracy": statistics.pstdev(accuracies),
        "fold_accuracies": accuracies,
        "fold_thresholds": thresholds,
        "global_best_threshold": global_threshold,
        "global_best_accuracy": global_accuracy,
        "pairs": len(all_scores),
        "pairs_without_a_face": int((~all_valid).sum()),
    }


def rates_at(scores: np.ndarray, same: np.ndarray, valid: np.ndarray, threshold: float) -> dict:
    """False-accept rate (different pairs at or above) and false-reject rate (same pairs below, or no face)."""
    different = ~same
    accepted = (scores >= threshold) & valid
    return {
        "threshold": threshold,
        "far": float(accepted[different].mean()),
        "false_accepts": int(accepted[different].sum()),
        "different_pairs": int(different.sum()),
        "frr": float((~accepted[same]).mean()),
        "false_rejects": int((~accepted[same]).sum()),
        "same_pairs": int(same.sum()),
        "accuracy": float((accepted == same).mean()),
    }


# --- talking to the stack ------------------------------------------------------------------------------------


@dataclass
class Upload:
    path: str  # endpoint
    name: str
    data: bytes
    fields: tuple[tuple[str, str], ...] = ()
    # More files of the same request (enroll several photos, verify's file2: (field, name, data)); such an upload
    # is always a request of its own.
    more: tuple[tuple[str, str, bytes], ...] = ()


class TaskRunner:
    """Submits uploads (up to 32 files a request where endpoint and fields agree), keeps at most ``ahead`` tasks
    queued in the stack so its workers never idle, and returns every task's final body, in order."""

    def __init__(self, client, batch: int = 32, ahead: int = 96) -> None:
        self.client = client
        self.batch = batch
        self.ahead = ahead

    def run(self, uploads: list[Upload], label: str) -> list[dict]:
        results: list[dict | None] = [None] * len(uploads)
        pending: deque[tuple[int, str]] = deque()
        started, next_index, done, next_report = time.monotonic(), 0, 0, max(1, len(uploads) // 10)
        while done < len(uploads):
            while next_index < len(uploads) and len(pending) < self.ahead:
                group = [next_index]
                first = uploads[next_index]
                while (
                    len(group) < self.batch
                    and not first.more
                    and group[-1] + 1 < len(uploads)
                    and not uploads[group[-1] + 1].more
                    and uploads[group[-1] + 1].path == first.path
                    and uploads[group[-1] + 1].fields == first.fields
                ):
                    group.append(group[-1] + 1)
                files = [("file", (uploads[i].name, uploads[i].data, "image/jpeg")) for i in group]
                files += [(field, (name, data, "image/jpeg")) for field, name, data in first.more]
                response = self.client.post(first.path, files=files, data=dict(first.fields))
                if response.status_code != 202:
                    raise RuntimeError(f"POST {first.path}: HTTP {response.status_code} {response.text[:300]}")
                body = response.json()
                ids = body.get("task_ids") or [body["task_id"]]
                pending.extend(zip(group, ids, strict=True))
                next_index = group[-1] + 1
            index, task_id = pending.popleft()
            results[index] = self.wait(task_id)
            done += 1
            if done % next_report == 0 or done == len(uploads):
                elapsed = time.monotonic() - started
                log(f"  {label}: {done}/{len(uploads)} tasks, {elapsed:.0f} s ({elapsed / done:.3f} s a task)")
        return results  # type: ignore[return-value]

    def wait(self, task_id: str) -> dict:
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            body = self.client.get(f"/task_result/{task_id}", params={"wait": 30}).json()
            if body.get("status") in ("SUCCESS", "FAILURE"):
                return body
        raise RuntimeError(f"task {task_id} not final after 30 minutes")


def face_list(body: dict) -> list[dict]:
    """The faces of a finished task (empty for a failure); blur results list them under ``faces``."""
    if body.get("status") != "SUCCESS":
        return []
    listing = body.get("faces") if isinstance(body.get("faces"), dict) else body.get("result")
    return list(listing.values()) if isinstance(listing, dict) else []


def centre(face: dict) -> tuple[float, float]:
    x1, y1, x2, y2 = face["facial_area"]
    return (x1 + x2) / 2, (y1 + y2) / 2


def area(face: dict) -> float:
    x1, y1, x2, y2 = face["facial_area"]
    return (x2 - x1) * (y2 - y1)


def nearest_to(faces: list[dict], x: float, y: float) -> dict | None:
    return min(faces, key=lambda f: np.hypot(centre(f)[0] - x, centre(f)[1] - y)) if faces else None


def unit(vector: list[float] | None) -> np.ndarray | None:
    if not vector:
        return None
    v = np.asarray(vector, np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


# --- 1. verification ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoFaces:
    """A photo's faces that have an embedding, as an embed task returned them (the faces verify chooses from)."""

    width: float
    height: float
    boxes: tuple[tuple[float, float, float, float], ...]
    confidences: tuple[float, ...]
    vectors: np.ndarray  # float32 [N, D], unit rows
    problems: tuple[str | None, ...] = ()  # what fails the quality gate, per face (None: it passes)

    @staticmethod
    def of(body: dict) -> PhotoFaces:
        faces = [f for f in face_list(body) if f.get("embedding")]
        vectors = np.stack([unit(f["embedding"]) for f in faces]) if faces else np.zeros((0, 0), np.float32)
        return PhotoFaces(
            float(body.get("image_width") or TILE),
            float(body.get("image_height") or TILE),
            tuple(tuple(map(float, f["facial_area"])) for f in faces),
            tuple(float(f["confidence"]) for f in faces),
            vectors,
            tuple((f.get("quality") or {}).get("problem") for f in faces),
        )

    def chosen(self, rule: str) -> int | None:
        """The face a rule picks: "main" (the gateway's rule), "largest", or "centre" (nearest the centre)."""
        from faceblur_proto.main_face import Candidate, largest_face, main_face

        candidates = [Candidate(b, c) for b, c in zip(self.boxes, self.confidences, strict=True)]
        if rule == "main":
            return main_face(candidates, self.width, self.height)
        if rule == "largest":
            return largest_face(candidates)
        if not candidates:
            return None
        centres = [((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in self.boxes]
        distances = [np.hypot(x - self.width / 2, y - self.height / 2) for x, y in centres]
        return int(np.argmin(distances))

    def vector(self, rule: str) -> np.ndarray | None:
        index = self.chosen(rule)
        return None if index is None else self.vectors[index]


# verify's rules: the first photo's face, then the second's ("every": the best match among all its faces).
VERIFY_RULES = {
    "largest_vs_largest": ("largest", "largest"),
    "largest_vs_every_face": ("largest", "every"),
    "centre_vs_centre": ("centre", "centre"),
    "main_vs_main": ("main", "main"),
    "main_vs_every_face": ("main", "every"),
}


def rule_score(a: PhotoFaces | None, b: PhotoFaces | None, first: str, second: str) -> float | None:
    """The similarity verify would answer under a rule; None where a photo has no embedded face."""
    if a is None or b is None:
        return None
    probe = a.vector(first)
    if probe is None or not len(b.vectors):
        return None
    if second == "every":
        return float((b.vectors @ probe).max())
    other = b.vector(second)
    return None if other is None else float(probe @ other)


def fold_scores(folds: list[list[Pair]], score: Callable[[Pair], float | None], unscored: float = -1.0):
    """Per fold, as five_fold takes them: each pair's score (``unscored`` where ``score`` gives None: a side
    without a face), whether it is the same person, and whether it was scored."""
    scores, same, valid = [], [], []
    for fold in folds:
        values = [score(pair) for pair in fold]
        scores.append(np.asarray([unscored if v is None else v for v in values]))
        same.append(np.asarray([p.same for p in fold]))
        valid.append(np.asarray([v is not None for v in values]))
    return scores, same, valid


def rule_scores(folds: list[list[Pair]], faces: dict[Path, PhotoFaces | None], first: str, second: str):
    return fold_scores(folds, lambda pair: rule_score(faces.get(pair.a), faces.get(pair.b), first, second))


def verification_scores(folds: list[list[Pair]], vectors: dict[Path, np.ndarray | None]):
    def similarity(pair: Pair) -> float | None:
        a, b = vectors.get(pair.a), vectors.get(pair.b)
        return None if a is None or b is None else float(a @ b)

    return fold_scores(folds, similarity)


def verify_api_check(runner, folds, photo_faces, count: int, preset: str, rng: random.Random) -> dict:
    """POST /verify_faces for ``count`` seeded pairs (all 3,000 with count >= 3000): does the API answer the
    similarity the rule computed here from the same embeddings, and how accurate is it at the threshold the
    5-fold protocol chose from the API's own similarities?"""
    pairs = [(k, pair) for k, fold in enumerate(folds) for pair in fold]
    chosen = pairs if count >= len(pairs) else sorted(rng.sample(pairs, count), key=lambda kp: pairs.index(kp))
    uploads = [
        Upload(
            "/verify_faces",
            pair.a.name,
            pair.a.read_bytes(),
            (("preset", preset),),
            more=(("file2", pair.b.name, pair.b.read_bytes()),),
        )
        for _, pair in chosen
    ]
    started = time.monotonic()
    bodies = runner.run(uploads, "verify (API)")
    agree, failures, several_answered = 0, 0, 0
    by_fold: dict[int, list[tuple[float, bool]]] = {k: [] for k in range(len(folds))}
    for (k, pair), body in zip(chosen, bodies, strict=True):
        local = rule_score(photo_faces.get(pair.a), photo_faces.get(pair.b), "main", "every")
        if body["status"] != "SUCCESS":
            failures += 1
            agree += local is None
            by_fold[k].append((-1.0, pair.same))
            continue
        answer = body["result"]
        agree += local is not None and abs(answer["similarity"] - local) <= 2e-4
        several_answered += len(answer.get("faces") or {}) > 1
        by_fold[k].append((answer["similarity"], pair.same))
    figures = {
        "pairs": len(chosen),
        "seconds": round(time.monotonic() - started, 1),
        "same_similarity_as_local_rule": agree,
        "failures_no_face": failures,
        "answers_listing_several_faces": several_answered,
    }
    if count >= len(pairs):
        scores = [np.asarray([s for s, _ in by_fold[k]]) for k in range(len(folds))]
        same = [np.asarray([y for _, y in by_fold[k]]) for k in range(len(folds))]
        figures["five_fold"] = five_fold(scores, same, [np.ones(len(x), bool) for x in scores])
    return figures


def _install_pkg_resources_shim() -> None:
    """face_recognition_models 0.3.0 imports pkg_resources, which setuptools >= 81 no longer ships; give it the
    one function it uses."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")

        def resource_filename(package: str, resource: str) -> str:
            spec = importlib.util.find_spec(package)
            assert spec is not None and spec.origin is not None
            return str(Path(spec.origin).parent / resource)

        shim.resource_filename = resource_filename  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim


def dlib_available() -> str | None:
    """None if face_recognition (dlib) can be used, else why not."""
    try:
        _install_pkg_resources_shim()
        import face_recognition  # noqa: F401
    except BaseException as exc:  # face_recognition calls quit() when its models are missing
        return f"{type(exc).__name__}: {exc}"
    return None


# Where LFW's deep-funneled 250x250 photos put the named face (dlib's HOG boxes on them cluster here); used for
# photos where HOG finds no face. (top, right, bottom, left) as face_recognition takes them.
LFW_CENTRE_BOX = (70, 180, 185, 68)


def dlib_embed(paths: list[str]) -> dict[str, tuple[list[float] | None, list[float]]]:
    """For each photo: the dlib encoding of the HOG face nearest the centre (None if HOG finds none), and the
    encoding to use with the centre-box fallback. Runs in a child process."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _install_pkg_resources_shim()
    import face_recognition

    result = {}
    started = time.monotonic()
    for number, path in enumerate(paths, 1):
        image = face_recognition.load_image_file(path)
        height, width = image.shape[:2]
        locations = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
        if locations:
            loc = min(locations, key=lambda b: np.hypot((b[1] + b[3]) / 2 - width / 2, (b[0] + b[2]) / 2 - height / 2))
            encoding = face_recognition.face_encodings(image, [loc])[0].tolist()
            result[path] = (encoding, encoding)
        else:
            fallback = face_recognition.face_encodings(image, [LFW_CENTRE_BOX])[0].tolist()
            result[path] = (None, fallback)
        if number % 500 == 0:
            print(f"  dlib: {number}/{len(paths)} photos, {time.monotonic() - started:.0f} s", flush=True)
    return result


def dlib_report(folds: list[list[Pair]], encodings: dict[str, tuple[list[float] | None, list[float]]]) -> dict:
    """face_recognition compares encodings by Euclidean distance (same person below 0.6): score = -distance."""
    report = {}
    for label, which in (("hog", 0), ("hog_else_centre_box", 1)):

        def minus_distance(pair: Pair, which: int = which) -> float | None:
            a, b = encodings[str(pair.a)][which], encodings[str(pair.b)][which]
            return None if a is None or b is None else -float(np.linalg.norm(np.subtract(a, b)))

        scores, same, valid = fold_scores(folds, minus_distance, unscored=-10.0)
        entry = five_fold(scores, same, valid)
        entry["accuracy_at_tolerance_0.6"] = rates_at(*(np.concatenate(x) for x in (scores, same, valid)), -0.6)[
            "accuracy"
        ]
        entry["photos_without_hog_face"] = sum(1 for e in encodings.values() if e[0] is None)
        report[label] = entry
    return report


# --- 6. several photos per subject ----------------------------------------------------------------------------------


def enroll_until_accepted(runner, gallery: str, candidates: dict[str, list[Path]], each: int, preset: str) -> dict:
    """Enroll ``each`` photos of every person through the API (several in one request), as a user would: a photo
    the API refuses (no face, none that stands out, the quality gate), named in the refusal, is replaced by the
    person's next photo. Person -> the photos enrolled (absent: ran out of photos); and the refusals seen."""
    chosen = {name: photos[:each] for name, photos in candidates.items()}
    spare = {name: list(photos[each:]) for name, photos in candidates.items()}
    enrolled: dict[str, list[Path]] = {}
    refusals: list[str] = []
    pending = sorted(chosen)
    while pending:
        uploads = [
            Upload(
                f"/galleries/{gallery}/subjects/{name}/faces",
                chosen[name][0].name,
                chosen[name][0].read_bytes(),
                (("preset", preset),),
                more=tuple(("file", p.name, p.read_bytes()) for p in chosen[name][1:]),
            )
            for name in pending
        ]
        retry = []
        for name, body in zip(pending, runner.run(uploads, f"enroll {each} photo(s) each"), strict=True):
            if body["status"] == "SUCCESS":
                enrolled[name] = chosen[name]
                continue
            error = body.get("error") or ""
            refusals.append(error)
            named = [p for p in chosen[name] if repr(p.name) in error]
            if named and spare[name]:
                chosen[name] = [p for p in chosen[name] if p != named[0]] + [spare[name].pop(0)]
                retry.append(name)
        pending = retry
    return {"enrolled": enrolled, "refusals": refusals}


def subject_people(people: dict[str, list[Path]], limit: int) -> tuple[dict[str, list[Path]], list[Path]]:
    """Step 6's people to enroll (>= 4 photos) and stranger photos (everyone else's); ``limit``: only the first
    that many people and 5 times as many stranger photos, for a quick try."""
    candidates = {name: photos for name, photos in people.items() if len(photos) >= 4}
    strangers = [p for name, photos in people.items() if len(photos) < 4 for p in photos]
    if limit:
        candidates = dict(list(candidates.items())[:limit])
        strangers = strangers[: 5 * limit]
    return candidates, strangers


def subject_galleries(runner, read_galleries, photo_faces, people, args, thresholds: dict, verify: float) -> dict:
    """One gallery of every LFW person with >= 4 photos, enrolled through the API from 1 photo each and from 3
    photos each (one request per person; a refused photo replaced by the next). Probes: each person's photos not
    enrolled (the first ``--subject-probes``), and every photo of the people with fewer than 4 (never enrolled);
    a photo's person is its face nearest the centre (LFW centres the person it names). spare_gallery and identify
    as the gateway decides them (templates, the size rule on GalleryVectors.comparisons, the quality gate), computed
    here from the /embed_faces results and the galleries read back from Redis; beside them today's rule on the same
    galleries (each subject's best-matching face, the size rule on the number of faces, no gate). A seeded subset
    goes through POST /blur_faces with spare_gallery to show the API answers the same."""
    from gateway_service.galleries.matching import spare_threshold

    candidates, strangers = subject_people(people, args.subject_limit)
    started = time.monotonic()
    report: dict = {"people_with_4_photos": len(candidates), "stranger_photos": len(strangers)}
    for each in (1, 3):
        gallery_name = f"subjects{each}-{args.seed}"
        enrolled = enroll_until_accepted(runner, gallery_name, candidates, each, args.preset)
        (gallery,) = read_galleries([gallery_name])
        names = sorted(enrolled["enrolled"])
        probes = [
            (p, name)
            for name in names
            for p in [p for p in candidates[name] if p not in enrolled["enrolled"][name]][: args.subject_probes]
        ]

        def person(photo: Path) -> tuple[np.ndarray | None, str | None]:
            faces = photo_faces.get(photo)
            index = None if faces is None else faces.chosen("centre")
            if index is None:
                return None, "no face"
            return faces.vectors[index], faces.problems[index] if faces.problems else None

        rows = {
            "enrolled": [(person(p), name) for p, name in probes],
            "strangers": [(person(p), None) for p in strangers],
        }
        now_rule = spare_threshold(gallery.comparisons, verify, thresholds["spare"])
        today_rule = spare_threshold(len(gallery), verify, thresholds["spare"])
        subjects = np.array(gallery.subjects)

        def today_best(vector: np.ndarray, gallery=gallery, subjects=subjects) -> tuple[str, float]:
            similarities = gallery.vectors @ vector
            best = int(np.argmax(similarities))
            return str(subjects[best]), float(similarities[best])

        figures: dict = {
            "gallery_subjects": len(names),
            "gallery_faces": len(gallery),
            "enroll_refusals": len(enrolled["refusals"]),
            "refusal_examples": enrolled["refusals"][:3],
            "people_without_enough_photos": len(candidates) - len(names),
            "probes": len(probes),
            "strangers": len(strangers),
            "spare_threshold_now": now_rule,
            "spare_threshold_today": today_rule,
        }
        for rule in ("now", "today"):
            visible = {"enrolled": [], "strangers": []}
            named = {"enrolled_right": [], "enrolled_rank1": [], "strangers_named": []}
            for kind, entries in rows.items():
                for (vector, problem), subject in entries:
                    if vector is None:
                        visible[kind].append(False)
                        (named["strangers_named"] if kind == "strangers" else named["enrolled_right"]).append(False)
                        if kind == "enrolled":
                            named["enrolled_rank1"].append(False)
                        continue
                    if rule == "now":
                        top = gallery.best_matches(vector, 1)[0]
                        best_subject, best = top.subject, top.similarity
                        shown = problem is None and best >= now_rule
                    else:
                        best_subject, best = today_best(vector)
                        shown = best >= today_rule
                    visible[kind].append(shown)
                    is_named = best >= thresholds["identify"]
                    if kind == "strangers":
                        named["strangers_named"].append(is_named)
                    else:
                        named["enrolled_right"].append(is_named and best_subject == subject)
                        named["enrolled_rank1"].append(best_subject == subject)
            figures[rule] = {
                "spare_enrolled_left_visible": float(np.mean(visible["enrolled"])),
                "spare_strangers_left_visible": float(np.mean(visible["strangers"])),
                "spare_strangers_left_visible_count": int(np.sum(visible["strangers"])),
                "identify_rank1": float(np.mean(named["enrolled_rank1"])),
                "identify_enrolled_named_right": float(np.mean(named["enrolled_right"])),
                "identify_strangers_named": float(np.mean(named["strangers_named"])),
                "identify_strangers_named_count": int(np.sum(named["strangers_named"])),
            }
        figures["probes_failing_the_gate"] = sum(1 for (v, problem), _ in rows["enrolled"] if v is not None and problem)
        figures["strangers_failing_the_gate"] = sum(
            1 for (v, problem), _ in rows["strangers"] if v is not None and problem
        )
        if args.api_probes and each == 3:
            figures["api_check"] = spare_api_check(
                runner, gallery_name, probes, strangers, rows, gallery, now_rule, args
            )
        report[f"{each}_photo{'s' if each > 1 else ''}_each"] = figures
        log(f"subjects, {each} photo(s) each: {figures}")
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def spare_api_check(runner, gallery_name, probes, strangers, rows, gallery, threshold, args) -> dict:
    """A seeded subset of the probes and strangers through POST /blur_faces with spare_gallery: is the person's
    face (nearest the centre) left visible exactly when the rule computed here says so?"""
    rng = random.Random(args.seed + 6)
    count = max(1, args.api_probes // 2)
    subset = rng.sample(list(zip([p for p, _ in probes], rows["enrolled"], strict=True)), min(count, len(probes)))
    subset += rng.sample(list(zip(strangers, rows["strangers"], strict=True)), min(count, len(strangers)))
    uploads = [
        Upload("/blur_faces", p.name, p.read_bytes(), (("spare_gallery", gallery_name), ("preset", args.preset)))
        for p, _ in subset
    ]
    agree, visible = 0, {"enrolled": [], "strangers": []}
    for (_, ((vector, problem), subject)), body in zip(subset, runner.run(uploads, "blur spare (API)"), strict=True):
        face = nearest_to(face_list(body), TILE / 2, TILE / 2)
        api_visible = bool(face) and not face["anonymized"]
        local = vector is not None and problem is None and gallery.best_matches(vector, 1)[0].similarity >= threshold
        agree += api_visible == local
        visible["enrolled" if subject else "strangers"].append(api_visible)
    return {
        "photos": len(subset),
        "same_decision_as_local": agree,
        "api_enrolled_left_visible": float(np.mean(visible["enrolled"])) if visible["enrolled"] else None,
        "api_strangers_left_visible": float(np.mean(visible["strangers"])) if visible["strangers"] else None,
    }


# --- 2. identification -------------------------------------------------------------------------------------------


def identification_figures(
    gallery, probes: list[tuple[Path, str | None]], vectors: dict[Path, np.ndarray | None], thresholds: dict
) -> dict:
    """Every probe matched against the gallery (top-1 with the service's best_matches). ``probes``: (photo, the
    enrolled subject it shows, or None for a never-enrolled person)."""
    known_top, known_sim, unknown_sim = [], [], []
    for photo, subject in probes:
        vector = vectors.get(photo)
        matches = gallery.best_matches(vector, 1) if vector is not None else []
        top, sim = (matches[0].subject, matches[0].similarity) if matches else (None, -1.0)
        if subject is None:
            unknown_sim.append(sim)
        else:
            known_top.append(top == subject)
            known_sim.append(sim)
    right, known_sim, unknown_sim = np.asarray(known_top), np.asarray(known_sim), np.asarray(unknown_sim)
    figures = {
        "gallery_subjects": len(set(gallery.subjects)),
        "known_probes": len(right),
        "unknown_probes": len(unknown_sim),
        "known_probes_without_a_face": int(sum(1 for p, s in probes if s is not None and vectors.get(p) is None)),
        "unknown_probes_without_a_face": int(sum(1 for p, s in probes if s is None and vectors.get(p) is None)),
        "rank1": float(right.mean()),
    }
    for name, threshold in thresholds.items():
        figures[name] = {
            "threshold": threshold,
            "known_identified_right": float((right & (known_sim >= threshold)).mean()),
            "known_given_wrong_subject": float((~right & (known_sim >= threshold)).mean()),
            "unknown_given_a_subject": float((unknown_sim >= threshold).mean()),
            "unknown_given_a_subject_count": int((unknown_sim >= threshold).sum()),
        }
    figures["_right"], figures["_known_sim"], figures["_unknown_sim"] = right, known_sim, unknown_sim
    return figures


# --- 3. collages ---------------------------------------------------------------------------------------------------


def collage(paths: list[Path]) -> bytes:
    from PIL import Image

    canvas = Image.new("RGB", (2 * TILE, 2 * TILE))
    for index, path in enumerate(paths):
        with Image.open(path) as tile:
            canvas.paste(tile.convert("RGB"), ((index % 2) * TILE, (index // 2) * TILE))
    output = io.BytesIO()
    canvas.save(output, "JPEG", quality=95)
    return output.getvalue()


def tile_of(face: dict) -> int:
    x, y = centre(face)
    return int(min(y, 2 * TILE - 1) // TILE) * 2 + int(min(x, 2 * TILE - 1) // TILE)


def split_by_tile(faces: list[dict]) -> tuple[dict[int, dict], list[dict]]:
    """Each tile's person (the face nearest its centre) and the other faces (background people)."""
    main, background = {}, []
    for tile in range(4):
        in_tile = [f for f in faces if tile_of(f) == tile]
        tx, ty = (tile % 2 + 0.5) * TILE, (tile // 2 + 0.5) * TILE
        person = nearest_to(in_tile, tx, ty)
        if person is not None:
            main[tile] = person
        background += [f for f in in_tile if f is not person]
    return main, background


def best_similarity(gallery, vector: np.ndarray | None) -> float:
    """The highest similarity of ``vector`` to any face of ``gallery`` (-1 without a face or an empty gallery)."""
    if vector is None or gallery is None or not len(gallery):
        return -1.0
    return float(np.max(gallery.vectors @ vector))


def impostor_figures(gallery, stranger_vectors: list[np.ndarray], ceiling: float, verify_threshold: float) -> dict:
    """The false-accept rate of one comparison of two different people: every pair of the gallery's faces (one
    photo per person) and every collage stranger against every gallery face; and from it, for a few gallery sizes
    n, the lowest threshold at which n x FAR <= 0.2 % (what spare_threshold does with its table)."""
    from gateway_service.galleries.matching import SPARE_STRANGER_RATE, spare_threshold

    vectors = gallery.vectors
    upper = np.triu_indices(len(vectors), 1)
    scores = np.concatenate([(vectors @ vectors.T)[upper], (np.stack(stranger_vectors) @ vectors.T).ravel()])
    scores.sort()
    grid = np.round(np.arange(0.25, 0.651, 0.025), 3)
    far = {f"{t:.3f}": float((len(scores) - np.searchsorted(scores, t)) / len(scores)) for t in grid}
    fine = np.round(np.arange(0.2, 0.8, 0.001), 3)
    far_fine = (len(scores) - np.searchsorted(scores, fine)) / len(scores)
    lowest = {}
    for n in (1, 2, 4, 10, 100, 774, 1000, 10000):
        ok = np.nonzero(n * far_fine <= SPARE_STRANGER_RATE)[0]
        resolved = n * 3 / len(scores) <= SPARE_STRANGER_RATE  # at least 3 false accepts measured at the target
        lowest[str(n)] = {
            "measured": float(fine[ok[0]]) if len(ok) and resolved else None,
            "spare_threshold": spare_threshold(n, verify_threshold, ceiling),
        }
    return {
        "comparisons": len(scores),
        "far": far,
        "max_similarity": round(float(scores[-1]), 4),
        "threshold_for_n_faces": lowest,
    }


def read_galleries(redis_url: str, names: list[str]) -> list:
    """The stored vectors of the stack's galleries ``names`` (the anonymous owner's), as the gateway reads them."""
    from redis.asyncio import Redis

    from gateway_service.galleries.store import GalleryStore
    from gateway_service.tasks.keys import RedisKeys

    async def read() -> list:
        connection = Redis.from_url(redis_url)
        try:
            store = GalleryStore(connection, RedisKeys("faceblur"))
            return [await store.vectors("", name) for name in names]
        finally:
            await connection.aclose()

    return asyncio.run(read())


def per_collage_spare(
    runner, read_galleries, plans, images, enrolled_photo, big_gallery, preset: str, seed: int, verify: float, ceiling
) -> dict:
    """spare_gallery as a user meets it: each collage's two enrolled people in a gallery of their own (enrolled
    through the API from photo 0001, face=largest), the collage showing other photos of them. The collages are
    embedded once (/embed_faces) and each tile's person matched here against its own gallery and against the
    big gallery of step 2, for a sweep of thresholds; then the real spare_gallery through the API."""
    from gateway_service.galleries.matching import spare_threshold

    names = [f"pc-{seed}-{i}" for i in range(len(plans))]
    uploads = [
        Upload(
            f"/galleries/{g}/subjects/{person}/faces",
            enrolled_photo[person].name,
            enrolled_photo[person].read_bytes(),
            (("face", "largest"), ("preset", preset)),
        )
        for g, tiles in zip(names, plans, strict=True)
        for _, person in tiles
        if person
    ]
    started = time.monotonic()
    enroll_failures = sum(b["status"] != "SUCCESS" for b in runner.run(uploads, "enroll (per-collage galleries)"))
    galleries = read_galleries(names)
    embedded = runner.run(
        [Upload("/embed_faces", f"c{i}.jpg", image, (("preset", preset),)) for i, image in enumerate(images)],
        "embed collages",
    )
    own = {"enrolled": [], "strangers": [], "background": []}
    big = {"enrolled": [], "strangers": [], "background": []}
    own_rule, stranger_vectors = [], []
    for tiles, body, g in zip(plans, embedded, galleries, strict=True):
        main_faces, background = split_by_tile(face_list(body))
        rule = spare_threshold(len(g) if g is not None else 0, verify, ceiling)
        for tile, (_, subject) in enumerate(tiles):
            face = main_faces.get(tile)
            vector = unit(face.get("embedding")) if face else None
            kind = "enrolled" if subject else "strangers"
            own[kind].append(best_similarity(g, vector))
            big[kind].append(best_similarity(big_gallery, vector))
            own_rule.append((kind, own[kind][-1] >= rule))
            if kind == "strangers" and vector is not None:
                stranger_vectors.append(vector)
        for face in background:
            vector = unit(face.get("embedding"))
            own["background"].append(best_similarity(g, vector))
            big["background"].append(best_similarity(big_gallery, vector))
    own = {k: np.asarray(v) for k, v in own.items()}
    big = {k: np.asarray(v) for k, v in big.items()}
    big_rule = spare_threshold(len(big_gallery), verify, ceiling)
    grid = sorted({*np.round(np.arange(0.3, 0.601, 0.025), 3).tolist(), verify, big_rule})

    def visible(sims: dict, t: float) -> dict:
        return {k: float((v >= t).mean()) if len(v) else None for k, v in sims.items()}

    figures = {
        "collages": len(plans),
        "enroll_failures": enroll_failures,
        "sweep_own_gallery": {f"{t:.3f}": visible(own, t) for t in grid},
        "sweep_big_gallery": {f"{t:.3f}": visible(big, t) for t in grid},
        "rule_own_gallery": {
            "thresholds": sorted({spare_threshold(len(g or ()), verify, ceiling) for g in galleries}),
            "enrolled_visible": float(np.mean([ok for kind, ok in own_rule if kind == "enrolled"])),
            "strangers_visible": float(np.mean([ok for kind, ok in own_rule if kind == "strangers"])),
        },
        "rule_big_gallery": {"threshold": big_rule, **visible(big, big_rule)},
        "highest_strangers": {k: sorted(map(float, v["strangers"]))[:-6:-1] for k, v in (("own", own), ("big", big))},
        "lowest_enrolled": {k: sorted(map(float, v["enrolled"]))[:12] for k, v in (("own", own), ("big", big))},
        "impostors": impostor_figures(big_gallery, stranger_vectors, ceiling, verify),
    }
    # The real thing: spare_gallery through the API with each collage's own gallery.
    uploads = [
        Upload("/blur_faces", f"c{i}.jpg", image, (("spare_gallery", g), ("preset", preset)))
        for i, (image, g) in enumerate(zip(images, names, strict=True))
    ]
    counts = {"enrolled": 0, "enrolled_visible": 0, "strangers": 0, "strangers_visible": 0, "failures": 0}
    used = set()
    for tiles, body in zip(plans, runner.run(uploads, "blur spare_gallery (own gallery)"), strict=True):
        if body["status"] != "SUCCESS":
            counts["failures"] += 1
            continue
        used.add(body.get("match_threshold"))
        main_faces, _ = split_by_tile(face_list(body))
        for tile, (_, subject) in enumerate(tiles):
            kind = "enrolled" if subject else "strangers"
            counts[kind] += 1
            face = main_faces.get(tile)
            counts[f"{kind}_visible"] += bool(face) and not face["anonymized"]
    figures["api"] = {
        **counts,
        "match_thresholds": sorted(t for t in used if t is not None),
        "enrolled_left_visible": counts["enrolled_visible"] / max(counts["enrolled"], 1),
        "strangers_left_visible": counts["strangers_visible"] / max(counts["strangers"], 1),
    }
    figures["seconds"] = round(time.monotonic() - started, 1)
    return figures


# --- 4. anonymization by recognition ---------------------------------------------------------------------------


def decoded_rgb(data: bytes) -> np.ndarray:
    from face_detection_service.imaging import decode, read_header, to_rgb8

    header = read_header(data, 10**9)
    return to_rgb8(decode(data, header))


def landmarks_of(face: dict) -> np.ndarray | None:
    from faceblur_proto.vocabulary import LANDMARK_NAMES

    points = face.get("landmarks")
    if not points:
        return None
    return np.asarray([points[name] for name in LANDMARK_NAMES], np.float32)


def parse_blur_variants(text: str) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """``--blur-options``: variants separated by ``;``, each ``default`` or ``name=value`` pairs separated by ``,``
    (the /blur_faces form fields, e.g. ``mask=box,box_scale=1.6``)."""
    variants = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if part == "default":
            variants.append(("default", ()))
            continue
        fields = tuple(tuple(item.strip().split("=", 1)) for item in part.split(",") if item.strip())
        if any(len(f) != 2 for f in fields):
            raise SystemExit(f"--blur-options: cannot read {part!r} (name=value pairs separated by ',')")
        variants.append((part, fields))  # type: ignore[arg-type]
    return variants or [("default", ())]


def anonymization_check(runner, embedder, names: list[str], fields: tuple, label: str, verify_threshold: float):
    """Step 4 for one set of /blur_faces options: each face found (>= 32 px wide) aligned with that result's
    landmarks in the original and in the blurred image, embedded, and compared."""
    from face_detection_service.recognition.align import align_face

    uploads = [Upload("/blur_faces", n, (WIDER / "images" / n).read_bytes(), fields) for n in names]
    started = time.monotonic()
    bodies = runner.run(uploads, f"blur (WIDER, {label})")
    blur_s = time.monotonic() - started
    befores: list[np.ndarray] = []
    afters: list[np.ndarray] = []
    widths, where = [], []
    skipped = {"failed": 0, "small": 0, "no_landmarks": 0, "size_changed": 0}
    for upload, body in zip(uploads, bodies, strict=True):
        if body["status"] != "SUCCESS":
            skipped["failed"] += 1
            continue
        original = decoded_rgb(upload.data)
        blurred = decoded_rgb(base64.b64decode(body["result"]))
        if blurred.shape != original.shape:
            skipped["size_changed"] += 1
            continue
        pairs = []
        for face in face_list(body):
            x1, _, x2, _ = face["facial_area"]
            points = landmarks_of(face)
            if x2 - x1 < 32:
                skipped["small"] += 1
            elif points is None:
                skipped["no_landmarks"] += 1
            else:
                pairs.append((align_face(original, points), align_face(blurred, points)))
                widths.append(x2 - x1)
                where.append((upload.name, face["facial_area"]))
        if pairs:
            befores.append(embedder.embed(np.stack([a for a, _ in pairs])))
            afters.append(embedder.embed(np.stack([b for _, b in pairs])))
    before = np.concatenate(befores) if befores else np.zeros((0, 1), np.float32)
    after = np.concatenate(afters) if afters else np.zeros((0, 1), np.float32)
    sims = np.sum(before * after, axis=1)
    return {
        "options": label,
        "photos": len(names),
        "blur_seconds": round(blur_s, 1),
        "faces_compared": len(sims),
        "faces_skipped": skipped,
        "face_width_median": float(np.median(widths)) if widths else None,
        "similarity_percentiles": {
            str(q): round(float(np.percentile(sims, q)), 4) for q in (0, 1, 5, 25, 50, 75, 95, 99, 100)
        }
        if len(sims)
        else {},
        "similarity_mean": float(sims.mean()) if len(sims) else None,
        "share_below_verify_threshold": float((sims < verify_threshold).mean()) if len(sims) else None,
        "faces_at_or_above_verify_threshold": int((sims >= verify_threshold).sum()),
        "share_below_0.2": float((sims < 0.2).mean()) if len(sims) else None,
        "most_similar_after_blur": [
            {"photo": where[i][0], "facial_area": where[i][1], "similarity": round(float(sims[i]), 4)}
            for i in np.argsort(-sims)[:10]
        ],
        "reidentification": reidentification(before, after, verify_threshold),
    }


def reidentification(before: np.ndarray, after: np.ndarray, threshold: float) -> dict:
    """Whether a blurred face still points to its own original among all the blurred faces (unit vectors, one row
    per face, row i of both the same face). A similarity at or above the threshold only identifies someone if
    the original is not as close to other people's blurred faces: a featureless blob embeds near every
    low-quality face, so such an original "matches" many blurs at once."""
    count = len(before)
    if count < 2:
        return {}
    scores = before @ after.T  # original i against blurred j
    own = np.diag(scores)
    rank = (scores > own[:, None]).sum(axis=1)  # other people's blurs closer to the original than its own
    own_matched = own >= threshold
    others_matched = (scores >= threshold).sum(axis=1) - own_matched
    above = np.flatnonzero(own_matched)
    return {
        "faces": count,
        "own_blur_nearest_share": float((rank == 0).mean()),
        "chance_share": 1 / count,
        "own_blur_rank_median": float(np.median(rank)),
        "other_blurs_at_threshold_share": float(others_matched.sum() / (count * (count - 1))),
        "at_threshold_and_own_blur_nearest": int((rank[above] == 0).sum()),
        "at_threshold_other_blurs_matched": sorted((int(others_matched[i]) for i in above), reverse=True),
    }


# --- 5. gallery matching cost ------------------------------------------------------------------------------------


async def gallery_cost(work_dir: Path, sizes: list[int], queries: int, seed: int) -> list[dict]:
    from redis.asyncio import Redis

    from gateway_service.galleries.cache import GalleryCache
    from gateway_service.galleries.store import GalleryStore
    from gateway_service.tasks.keys import RedisKeys
    from tests.stack import RedisServer

    rng = np.random.default_rng(seed)
    dimensions, model = 128, "synthetic.onnx"
    server = RedisServer(work_dir / "redis-cost")
    server.start()
    rows = []
    try:
        redis = Redis.from_url(server.url)
        store = GalleryStore(redis, RedisKeys("bench"))
        cache = GalleryCache(store)
        before = (await redis.info("memory"))["used_memory"]
        filled = 0
        for size in sorted(sizes):
            started = time.perf_counter()
            while filled < size:
                chunk = min(50, size - filled)  # one Redis connection per enroll in flight
                vectors = rng.standard_normal((chunk, dimensions)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                await asyncio.gather(
                    *(
                        store.enroll("", "big", f"person-{filled + i}", vectors[i], model, [0, 0, 10, 10])
                        for i in range(chunk)
                    )
                )
                filled += chunk
            fill_s = time.perf_counter() - started
            loads = []
            for _ in range(3):
                started = time.perf_counter()
                gallery = await store.vectors("", "big")
                loads.append(time.perf_counter() - started)
            await cache.get("", "big")  # cached
            started = time.perf_counter()
            assert await cache.get("", "big") is not None
            cached_s = time.perf_counter() - started
            extra = rng.standard_normal(dimensions).astype(np.float32)
            await store.enroll("", "big", "one-more", extra / np.linalg.norm(extra), model, [0, 0, 10, 10])
            started = time.perf_counter()
            gallery = await cache.get("", "big")
            reload_s = time.perf_counter() - started
            assert gallery is not None
            probes = rng.standard_normal((queries, dimensions)).astype(np.float32)
            probes /= np.linalg.norm(probes, axis=1, keepdims=True)
            match_ms, product_ms = [], []
            for probe in probes:
                started = time.perf_counter()
                gallery.best_matches(probe, 3)
                match_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                gallery.vectors @ probe
                product_ms.append((time.perf_counter() - started) * 1000)
            used = (await redis.info("memory"))["used_memory"]
            rows.append(
                {
                    "faces": len(gallery),
                    "enroll_fill_s": round(fill_s, 2),
                    "vectors_load_s_median": round(statistics.median(loads), 4),
                    "reload_after_change_s": round(reload_s, 4),
                    "cached_get_ms": round(cached_s * 1000, 3),
                    "best_matches_ms_median": round(statistics.median(match_ms), 3),
                    "best_matches_ms_p90": round(float(np.percentile(match_ms, 90)), 3),
                    "dot_product_only_ms_median": round(statistics.median(product_ms), 3),
                    "matcher_vectors_mb": round(gallery.vectors.nbytes / 2**20, 2),
                    "matcher_subject_names_mb": round(
                        (sum(sys.getsizeof(s) for s in set(gallery.subjects)) + sys.getsizeof(gallery.subjects))
                        / 2**20,
                        2,
                    ),
                    "redis_used_mb": round((used - before) / 2**20, 1),
                }
            )
            log(f"  gallery cost: {rows[-1]}")
            await store.delete_faces("", "big", "one-more")
        await redis.aclose()
    finally:
        server.stop()
    return rows


# --- the run -----------------------------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fast", help="detection preset of the LFW steps 1-3 (default fast)")
    parser.add_argument("--collages", type=int, default=200)
    parser.add_argument("--wider", type=int, default=200, help="WIDER FACE photos for step 4")
    parser.add_argument("--api-probes", type=int, default=400, help="probes identified through the API as a check")
    parser.add_argument("--probe-limit", type=int, default=1500, help="at most this many probes of each kind (0: all)")
    parser.add_argument("--enroll-limit", type=int, default=0, help="enroll at most this many people (0: all)")
    parser.add_argument("--gallery-sizes", default="1000,10000,100000")
    parser.add_argument("--per-fold", type=int, default=0, help="pairs of each kind per fold (0: all 300)")
    parser.add_argument("--no-dlib", action="store_true")
    parser.add_argument(
        "--verify-api-pairs",
        type=int,
        default=300,
        help="pairs also sent through POST /verify_faces, to check it answers what the rule computes here (3000: "
        "all, and the 5-fold figure from the API's own answers)",
    )
    parser.add_argument("--subject-probes", type=int, default=10, help="step 6: probes per enrolled person at most")
    parser.add_argument("--subject-limit", type=int, default=0, help="step 6: only this many people (0: all)")
    parser.add_argument("--skip", default="", help="steps to skip, e.g. 4,5")
    parser.add_argument(
        "--blur-options",
        default="default",
        help="step 4's /blur_faces options: variants separated by ';', each 'default' or name=value pairs separated "
        "by ',', e.g. 'default;mask=box;box_scale=1.6' (each variant on the same photos)",
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    skip = {int(s) for s in args.skip.split(",") if s.strip()}

    import httpx

    from gateway_service.core.config import Settings
    from tests.stack import Stack

    defaults = Settings.model_fields
    verify_threshold = float(defaults["verify_threshold"].default)
    identify_threshold = float(defaults["identify_threshold"].default)
    spare_threshold = float(defaults["spare_threshold"].default)
    thresholds = {"identify": identify_threshold, "spare": spare_threshold}
    rng = random.Random(args.seed)
    results: dict = {
        "machine": f"{os.cpu_count()} cores, load average at start {os.getloadavg()[0]:.1f}",
        "preset_lfw": args.preset,
        "thresholds": {"verify": verify_threshold, **thresholds},
        "seed": args.seed,
    }

    folds = read_pairs(LFW / "pairs.txt", args.per_fold)
    people = lfw_people()
    pair_photos = sorted({p for fold in folds for pair in fold for p in (pair.a, pair.b)})
    enrolled_photo = {name: photos[0] for name, photos in people.items() if len(photos) >= 2}
    if args.enroll_limit:
        kept = sorted(rng.sample(sorted(enrolled_photo), min(args.enroll_limit, len(enrolled_photo))))
        enrolled_photo = {name: enrolled_photo[name] for name in kept}
    known_probes = [(p, name) for name, photos in people.items() if name in enrolled_photo for p in photos[1:]]
    unknown_probes = [(photos[0], None) for name, photos in people.items() if len(photos) == 1]
    if args.probe_limit:
        known_probes = sorted(rng.sample(known_probes, min(args.probe_limit, len(known_probes))))
        unknown_probes = sorted(rng.sample(unknown_probes, min(args.probe_limit, len(unknown_probes))))
    # Step 1 needs the pair photos, step 2 the probes; step 3 embeds its own collages.
    to_embed = sorted(
        (set(pair_photos) if 1 not in skip else set())
        | ({p for p, _ in known_probes + unknown_probes} if 2 not in skip else set())
        | (
            {p for photos in subject_people(people, args.subject_limit)[0].values() for p in photos}
            | set(subject_people(people, args.subject_limit)[1])
            if 6 not in skip
            else set()
        )
    )
    log(
        f"LFW: {len(pair_photos)} photos in the pairs, {len(enrolled_photo)} people to enroll, "
        f"{len(known_probes)} known and {len(unknown_probes)} unknown probes; {len(to_embed)} photos to embed"
    )

    dlib_future = None
    dlib_problem = "skipped (--no-dlib)" if args.no_dlib or 1 in skip else dlib_available()
    pool = None
    if dlib_problem is None:
        pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        dlib_future = pool.submit(dlib_embed, [str(p) for p in pair_photos])
        log("dlib (face_recognition) embedding the pair photos in a child process")
    else:
        log(f"dlib row skipped: {dlib_problem}")

    with tempfile.TemporaryDirectory() as work:
        stack = Stack(Path(work), GATEWAY_LOG_LEVEL="WARNING").start()
        try:
            client = httpx.Client(base_url=stack.gateway.url, timeout=300)
            runner = TaskRunner(client)
            log(f"stack up: {stack.gateway.url}")

            # ---- embed every LFW photo once --------------------------------------------------------------
            vectors_centre: dict[Path, np.ndarray | None] = {}
            vectors_largest: dict[Path, np.ndarray | None] = {}
            photo_faces: dict[Path, PhotoFaces | None] = {}
            face_counts = []
            started = time.monotonic()
            if {1, 2, 3, 6} <= skip:
                to_embed = []
            uploads = [Upload("/embed_faces", p.name, p.read_bytes(), (("preset", args.preset),)) for p in to_embed]
            for photo, body in zip(to_embed, runner.run(uploads, "embed"), strict=True):
                faces = [f for f in face_list(body) if f.get("embedding")]
                face_counts.append(len(faces))
                width, height = body.get("image_width") or TILE, body.get("image_height") or TILE
                near = nearest_to(faces, width / 2, height / 2)
                vectors_centre[photo] = unit(near["embedding"]) if near else None
                vectors_largest[photo] = unit(max(faces, key=area)["embedding"]) if faces else None
                photo_faces[photo] = PhotoFaces.of(body) if body.get("status") == "SUCCESS" else None
            embed_s = time.monotonic() - started
            results["lfw_embedding"] = {
                "photos": len(to_embed),
                "seconds": round(embed_s, 1),
                "photos_without_a_face": sum(v is None for v in vectors_centre.values()),
                "photos_with_several_faces": sum(c > 1 for c in face_counts),
                "centre_and_largest_differ": sum(
                    1
                    for p in to_embed
                    if vectors_centre[p] is not None and float(vectors_centre[p] @ vectors_largest[p]) < 0.9999
                ),
            }
            log(f"embedded {len(to_embed)} photos in {embed_s:.0f} s: {results['lfw_embedding']}")

            # ---- 1. verification ---------------------------------------------------------------------------
            if 1 not in skip:
                scores, same, valid = verification_scores(folds, vectors_centre)
                ours = five_fold(scores, same, valid)
                flat = [np.concatenate(x) for x in (scores, same, valid)]
                ours["at_verify_threshold"] = rates_at(*flat, verify_threshold)
                ours["at_spare_threshold"] = rates_at(*flat, spare_threshold)
                ours["sweep"] = [rates_at(*flat, float(t)) for t in np.round(np.arange(0.25, 0.651, 0.025), 3)]
                largest = five_fold(*verification_scores(folds, vectors_largest))
                results["verification"] = {
                    "service_centre_face": ours,
                    "service_largest_face": {k: largest[k] for k in ("mean_accuracy", "std_accuracy")},
                    "pairs_with_several_faces_on_a_side": sum(
                        1
                        for fold in folds
                        for pair in fold
                        if any(len(getattr(photo_faces.get(p), "vectors", ())) > 1 for p in (pair.a, pair.b))
                    ),
                    "rules": {
                        name: five_fold(*rule_scores(folds, photo_faces, first, second))
                        for name, (first, second) in VERIFY_RULES.items()
                    },
                }
                if args.verify_api_pairs:
                    results["verification"]["api_check"] = verify_api_check(
                        runner, folds, photo_faces, args.verify_api_pairs, args.preset, rng
                    )
                    log(f"verify through the API: {results['verification']['api_check']}")

            # ---- 2. identification ------------------------------------------------------------------------
            gallery_name = f"lfw-{args.seed}"
            if not {2, 3} <= skip:
                started = time.monotonic()
                uploads = [
                    Upload(
                        f"/galleries/{gallery_name}/subjects/{name}/faces",
                        photo.name,
                        photo.read_bytes(),
                        (("face", "largest"), ("preset", args.preset)),
                    )
                    for name, photo in enrolled_photo.items()
                ]
                enrolled = runner.run(uploads, "enroll")
                failed = [
                    (name, body.get("error"))
                    for name, body in zip(enrolled_photo, enrolled, strict=True)
                    if body["status"] != "SUCCESS"
                ]
                enrolled_names = {
                    name for name, body in zip(enrolled_photo, enrolled, strict=True) if body["status"] == "SUCCESS"
                }
                enroll_s = time.monotonic() - started
                log(f"enrolled {len(enrolled_names)} people through the API in {enroll_s:.0f} s; failed: {failed[:5]}")

                (gallery,) = read_galleries(stack.redis.url, [gallery_name])
                assert gallery is not None and len(gallery) == len(enrolled_names), "gallery read back from Redis"
                if 2 not in skip:
                    # People whose enrollment failed are left out of the known probes (their photos are not enrolled).
                    probes = [(p, s) for p, s in known_probes if s in enrolled_names] + unknown_probes
                    ident = identification_figures(gallery, probes, vectors_centre, thresholds)
                    right, known_sim, unknown_sim = (
                        ident.pop("_right"),
                        ident.pop("_known_sim"),
                        ident.pop("_unknown_sim"),
                    )
                    ident["enrolled_through_api"] = len(enrolled_names)
                    ident["enroll_failures"] = failed
                    ident["enroll_seconds"] = round(enroll_s, 1)
                    sweep = []
                    for t in np.round(np.arange(0.25, 0.651, 0.025), 3):
                        sweep.append(
                            {
                                "threshold": float(t),
                                "known_identified_right": float((right & (known_sim >= t)).mean()),
                                "known_wrong_subject": float((~right & (known_sim >= t)).mean()),
                                "unknown_given_a_subject": float((unknown_sim >= t).mean()),
                            }
                        )
                    ident["sweep"] = sweep

                    # The API path for a seeded subset of the probes: the same top match as computed here?
                    if args.api_probes:
                        known_share = max(1, args.api_probes * 5 // 8)
                        with_face = [pr for pr in probes if vectors_centre.get(pr[0]) is not None]
                        subset = rng.sample([pr for pr in with_face if pr[1] is not None], known_share)
                        subset += rng.sample(
                            [pr for pr in with_face if pr[1] is None],
                            min(args.api_probes - known_share, len(unknown_probes)),
                        )
                        uploads = [
                            Upload(
                                f"/galleries/{gallery_name}/identify",
                                p.name,
                                p.read_bytes(),
                                (("preset", args.preset), ("k", "3")),
                            )
                            for p, _ in subset
                        ]
                        started = time.monotonic()
                        answers = runner.run(uploads, "identify (API)")
                        agree, decisions_agree, api_right, api_unknown_named = 0, 0, [], []
                        for (photo, subject), body in zip(subset, answers, strict=True):
                            faces = face_list(body)
                            face = nearest_to(faces, TILE / 2, TILE / 2)
                            api_top = face["matches"][0] if face and face.get("matches") else None
                            local = gallery.best_matches(vectors_centre[photo], 1)
                            if api_top and local and api_top["subject"] == local[0].subject:
                                agree += abs(api_top["similarity"] - local[0].similarity) <= 2e-4
                            local_named = (
                                local[0].subject if local and local[0].similarity >= identify_threshold else None
                            )
                            decisions_agree += (face or {}).get("subject") == local_named
                            if subject is None:
                                api_unknown_named.append((face or {}).get("subject") is not None)
                            else:
                                api_right.append(bool(api_top) and api_top["subject"] == subject)
                        ident["api_check"] = {
                            "probes": len(subset),
                            "seconds": round(time.monotonic() - started, 1),
                            "same_top_match_and_similarity": agree,
                            "same_subject_decision": decisions_agree,
                            "api_rank1_known": float(np.mean(api_right)) if api_right else None,
                            "api_known": len(api_right),
                            "api_unknown_given_a_subject": float(np.mean(api_unknown_named))
                            if api_unknown_named
                            else None,
                            "api_unknown": len(api_unknown_named),
                        }
                        log(f"identify through the API: {ident['api_check']}")
                    results["identification"] = ident

            # ---- 3. spare / only on collages ----------------------------------------------------------------
            if 3 not in skip:
                enrolled_people = sorted(enrolled_names)
                singles = sorted(name for name, photos in people.items() if len(photos) == 1)
                plans = []
                for _ in range(args.collages):
                    pair = rng.sample(enrolled_people, 2)
                    strangers = rng.sample(singles, 2)
                    tiles = [(rng.choice(people[n][1:]), n) for n in pair] + [(people[n][0], None) for n in strangers]
                    rng.shuffle(tiles)
                    plans.append(tiles)
                images = [collage([p for p, _ in tiles]) for tiles in plans]
                counts = {
                    mode: {
                        "enrolled": 0,
                        "enrolled_not_anonymized": 0,
                        "enrolled_right_subject": 0,
                        "enrolled_not_detected": 0,
                        "strangers": 0,
                        "strangers_not_anonymized": 0,
                        "strangers_not_detected": 0,
                        "background_faces": 0,
                        "background_not_anonymized": 0,
                    }
                    for mode in ("spare_gallery", "only_gallery")
                }
                failures = 0
                started = time.monotonic()
                for mode in ("spare_gallery", "only_gallery"):
                    uploads = [
                        Upload("/blur_faces", f"c{i}.jpg", image, ((mode, gallery_name), ("preset", args.preset)))
                        for i, image in enumerate(images)
                    ]
                    for tiles, body in zip(plans, runner.run(uploads, f"blur {mode}"), strict=True):
                        if body["status"] != "SUCCESS":
                            failures += 1
                            continue
                        main_faces, background = split_by_tile(face_list(body))
                        c = counts[mode]
                        c["background_faces"] += len(background)
                        c["background_not_anonymized"] += sum(not f["anonymized"] for f in background)
                        for tile, (_, subject) in enumerate(tiles):
                            face = main_faces.get(tile)
                            kind = "enrolled" if subject else "strangers"
                            c[kind] += 1
                            if face is None:
                                c[f"{kind}_not_detected"] += 1
                                continue
                            c[f"{kind}_not_anonymized"] += not face["anonymized"]
                            if subject:
                                c["enrolled_right_subject"] += face.get("subject") == subject
                spare, only = counts["spare_gallery"], counts["only_gallery"]
                results["spare_only"] = {
                    "collages": len(images),
                    "gallery_subjects": len(enrolled_people),
                    "task_failures": failures,
                    "seconds": round(time.monotonic() - started, 1),
                    "counts": counts,
                    "spare_enrolled_left_visible": spare["enrolled_not_anonymized"] / max(spare["enrolled"], 1),
                    "spare_enrolled_right_subject": spare["enrolled_right_subject"] / max(spare["enrolled"], 1),
                    "spare_strangers_left_visible": spare["strangers_not_anonymized"] / max(spare["strangers"], 1),
                    "spare_strangers_not_detected": spare["strangers_not_detected"] / max(spare["strangers"], 1),
                    "spare_background_left_visible": spare["background_not_anonymized"]
                    / max(spare["background_faces"], 1),
                    "only_enrolled_anonymized": (
                        only["enrolled"] - only["enrolled_not_anonymized"] - only["enrolled_not_detected"]
                    )
                    / max(only["enrolled"], 1),
                    "only_strangers_anonymized": (
                        only["strangers"] - only["strangers_not_anonymized"] - only["strangers_not_detected"]
                    )
                    / max(only["strangers"], 1),
                }
                log(f"spare/only: {results['spare_only']}")
                results["spare_per_collage"] = per_collage_spare(
                    runner,
                    lambda names: read_galleries(stack.redis.url, names),
                    plans,
                    images,
                    enrolled_photo,
                    gallery,
                    args.preset,
                    args.seed,
                    verify_threshold,
                    spare_threshold,
                )
                log(f"spare per collage: {results['spare_per_collage']}")

            # ---- 6. several photos per subject: spare and identify -----------------------------------------------
            if 6 not in skip:
                results["subjects"] = subject_galleries(
                    runner,
                    lambda names: read_galleries(stack.redis.url, names),
                    photo_faces,
                    people,
                    args,
                    thresholds,
                    verify_threshold,
                )

            # ---- 4. anonymization checked by recognition -------------------------------------------------------
            if 4 not in skip:
                from face_detection_service.recognition.embedder import load_embedder

                embedder = load_embedder("", 1)
                ground_truth = json.loads((WIDER / "gt.json").read_text())
                names = sorted(
                    random.Random(args.seed).sample(sorted(ground_truth), min(args.wider, len(ground_truth)))
                )
                variants = parse_blur_variants(args.blur_options)
                results["anonymization_variants"] = []
                for label, fields in variants:
                    entry = anonymization_check(runner, embedder, names, fields, label, verify_threshold)
                    results["anonymization_variants"].append(entry)
                    log(f"anonymization ({label}): {entry}")
                results["anonymization"] = results["anonymization_variants"][0]
        finally:
            stack.stop()

        # ---- 5. gallery matching cost -----------------------------------------------------------------------------
        if 5 not in skip:
            sizes = [int(s) for s in args.gallery_sizes.split(",") if s.strip()]
            try:
                results["gallery_cost"] = asyncio.run(gallery_cost(Path(work), sizes, 200, args.seed))
            except Exception as exc:  # keep the figures of the other steps
                results["gallery_cost_error"] = f"{type(exc).__name__}: {exc}"
                log(f"gallery cost failed: {results['gallery_cost_error']}")

    # ---- dlib -----------------------------------------------------------------------------------------------------
    if dlib_future is not None:
        log("waiting for dlib")
        try:
            results["verification"]["dlib_face_recognition"] = dlib_report(folds, dlib_future.result())
        except Exception as exc:
            results.setdefault("verification", {})["dlib_face_recognition"] = {"error": f"{type(exc).__name__}: {exc}"}
        assert pool is not None
        pool.shutdown()
    elif "verification" in results:
        results["verification"]["dlib_face_recognition"] = {"skipped": dlib_problem}
    results["seconds_total"] = round(time.monotonic() - LOG_STARTED, 1)
    report(results)
    write_results(args.out, results)


def report(r: dict) -> None:
    print("\n=== Face recognition through the stack ===")
    print(f"machine: {r['machine']}; LFW steps with preset {r['preset_lfw']}; thresholds {r['thresholds']}")
    if "lfw_embedding" in r:
        e = r["lfw_embedding"]
        print(
            f"LFW photos embedded via /embed_faces: {e['photos']} in {e['seconds']} s; no face: "
            f"{e['photos_without_a_face']}; several faces: {e['photos_with_several_faces']} "
            f"(centre face != largest in {e['centre_and_largest_differ']})"
        )
    if "verification" in r:
        v = r["verification"]
        ours = v["service_centre_face"]
        print(
            f"\n1. LFW verification ({ours['pairs']} pairs, 5 folds; pairs with a photo without a face: "
            f"{ours['pairs_without_a_face']}, counted as errors)"
        )
        print(
            f"  service (SFace), centre face : {pct(ours['mean_accuracy'])} +- {pct(ours['std_accuracy'])}; "
            f"fold thresholds {', '.join(f'{t:.3f}' for t in ours['fold_thresholds'])}"
        )
        lg = v["service_largest_face"]
        print(f"  service (SFace), largest face: {pct(lg['mean_accuracy'])} +- {pct(lg['std_accuracy'])}")
        print(f"  global best threshold {ours['global_best_threshold']:.3f} ({pct(ours['global_best_accuracy'])})")
        for x in (ours["at_verify_threshold"], ours["at_spare_threshold"]):
            print(
                f"  at {x['threshold']}: FAR {pct(x['far'])} ({x['false_accepts']}/{x['different_pairs']}), "
                f"FRR {pct(x['frr'])} ({x['false_rejects']}/{x['same_pairs']}), accuracy {pct(x['accuracy'])}"
            )
        if "rules" in v:
            print(f"  pairs with several faces on a side: {v['pairs_with_several_faces_on_a_side']}")
            for name, entry in v["rules"].items():
                print(
                    f"  rule {name:22s}: {pct(entry['mean_accuracy'])} +- {pct(entry['std_accuracy'])}; "
                    f"fold thresholds {', '.join(f'{t:.3f}' for t in entry['fold_thresholds'])}"
                )
        if "api_check" in v:
            print(f"  /verify_faces check: {v['api_check']}")
        d = v.get("dlib_face_recognition", {})
        if "hog" in d:
            for label, entry in d.items():
                print(
                    f"  dlib face_recognition ({label}): {pct(entry['mean_accuracy'])} +- "
                    f"{pct(entry['std_accuracy'])}; at its tolerance 0.6: {pct(entry['accuracy_at_tolerance_0.6'])}; "
                    f"pairs without a face {entry['pairs_without_a_face']}, photos where HOG found none "
                    f"{entry['photos_without_hog_face']}"
                )
        else:
            print(f"  dlib face_recognition: {d}")
        print(
            "  sweep (threshold: FAR / FRR): "
            + "; ".join(f"{x['threshold']:.3f}: {pct(x['far'])} / {pct(x['frr'])}" for x in ours["sweep"])
        )
    if "identification" in r:
        i = r["identification"]
        print(
            f"\n2. Open-set identification: {i['gallery_subjects']} people enrolled via the API "
            f"({len(i['enroll_failures'])} enroll failures), {i['known_probes']} known probes "
            f"({i['known_probes_without_a_face']} without a face), {i['unknown_probes']} unknown probes "
            f"({i['unknown_probes_without_a_face']} without a face)"
        )
        print(f"  rank-1 (top match right): {pct(i['rank1'])}")
        for x in (i["identify"], i["spare"]):
            print(
                f"  at {x['threshold']}: known named right {pct(x['known_identified_right'])}, known given a wrong "
                f"subject {pct(x['known_given_wrong_subject'])}, unknown given a subject "
                f"{pct(x['unknown_given_a_subject'])} ({x['unknown_given_a_subject_count']}/{i['unknown_probes']})"
            )
        if "api_check" in i:
            a = i["api_check"]
            print(
                f"  API check: {a['probes']} probes via /identify in {a['seconds']} s; same top match and similarity "
                f"as local: {a['same_top_match_and_similarity']}/{a['probes']}, same subject decision "
                f"{a['same_subject_decision']}/{a['probes']}; API rank-1 {a['api_rank1_known']} on {a['api_known']}, "
                f"unknown named {a['api_unknown_given_a_subject']} on {a['api_unknown']}"
            )
        print(
            "  sweep (threshold: named right / wrong subject / unknown named): "
            + "; ".join(
                f"{x['threshold']:.3f}: {pct(x['known_identified_right'])} / {pct(x['known_wrong_subject'])} / "
                f"{pct(x['unknown_given_a_subject'])}"
                for x in i["sweep"]
            )
        )
    if "spare_only" in r:
        s = r["spare_only"]
        c = s["counts"]
        print(
            f"\n3. spare/only on {s['collages']} collages (gallery of {s['gallery_subjects']} people; task "
            f"failures {s['task_failures']}; tiles' persons: {c['spare_gallery']['enrolled']} enrolled, "
            f"{c['spare_gallery']['strangers']} strangers; not detected counted against the rates)"
        )
        print(
            f"  spare: enrolled left visible {pct(s['spare_enrolled_left_visible'])} (right subject "
            f"{pct(s['spare_enrolled_right_subject'])}, not detected {c['spare_gallery']['enrolled_not_detected']}); "
            f"strangers left visible {pct(s['spare_strangers_left_visible'])} "
            f"({c['spare_gallery']['strangers_not_anonymized']}), not detected "
            f"{c['spare_gallery']['strangers_not_detected']}; background faces left visible "
            f"{c['spare_gallery']['background_not_anonymized']}/{c['spare_gallery']['background_faces']}"
        )
        print(
            f"  only: enrolled anonymized {pct(s['only_enrolled_anonymized'])}; strangers anonymized "
            f"{pct(s['only_strangers_anonymized'])} ({c['only_gallery']['strangers_not_anonymized']} of "
            f"{c['only_gallery']['strangers']} left as they should); background anonymized "
            f"{c['only_gallery']['background_faces'] - c['only_gallery']['background_not_anonymized']}"
            f"/{c['only_gallery']['background_faces']}"
        )
    if "spare_per_collage" in r:
        p = r["spare_per_collage"]
        print(
            f"\n3b. spare_gallery with each collage's own gallery ({p['collages']} collages, 2 people in each; "
            f"enroll failures {p['enroll_failures']}); visible = best match >= threshold (no face: hidden)"
        )
        print("  threshold: own gallery enrolled / strangers / background | big gallery enrolled / strangers")
        for t, own in p["sweep_own_gallery"].items():
            big = p["sweep_big_gallery"][t]
            print(
                f"  {t}: {pct(own['enrolled'])} / {pct(own['strangers'])} / {pct(own['background'] or 0)} | "
                f"{pct(big['enrolled'])} / {pct(big['strangers'])}"
            )
        ro, rb, api = p["rule_own_gallery"], p["rule_big_gallery"], p["api"]
        print(
            f"  size rule, own galleries (thresholds {ro['thresholds']}): enrolled visible "
            f"{pct(ro['enrolled_visible'])}, "
            f"strangers visible {pct(ro['strangers_visible'])}; big gallery (threshold {rb['threshold']}): enrolled "
            f"{pct(rb['enrolled'])}, strangers {pct(rb['strangers'])}"
        )
        print(
            f"  through the API (own galleries, match_threshold {api['match_thresholds']}): enrolled left visible "
            f"{pct(api['enrolled_left_visible'])} ({api['enrolled_visible']}/{api['enrolled']}), strangers left "
            f"visible {pct(api['strangers_left_visible'])} ({api['strangers_visible']}/{api['strangers']}); "
            f"failures {api['failures']}"
        )
        print(
            f"  highest strangers (own / big gallery): {[round(x, 3) for x in p['highest_strangers']['own']]} / "
            f"{[round(x, 3) for x in p['highest_strangers']['big']]}; lowest enrolled (own): "
            f"{[round(x, 3) for x in p['lowest_enrolled']['own']]}"
        )
        imp = p["impostors"]
        print(
            f"  impostor comparisons: {imp['comparisons']} (max {imp['max_similarity']}); FAR "
            + ", ".join(f"{t}: {far:.2e}" for t, far in imp["far"].items())
        )
        print(
            "  threshold for n faces (measured here / spare_threshold): "
            + "; ".join(
                f"{n}: {x['measured']} / {x['spare_threshold']}" for n, x in imp["threshold_for_n_faces"].items()
            )
        )
    if "subjects" in r:
        sub = r["subjects"]
        print(
            f"\n6. One gallery of the {sub['people_with_4_photos']} LFW people with >= 4 photos; probes their other "
            f"photos, strangers the {sub['stranger_photos']} photos of everyone else (now / today's rule)"
        )
        for key in ("1_photo_each", "3_photos_each"):
            if key not in sub:
                continue
            g, now, today = sub[key], sub[key]["now"], sub[key]["today"]
            print(
                f"  {key}: {g['gallery_subjects']} people, {g['gallery_faces']} faces ({g['enroll_refusals']} refusals "
                f"replaced), {g['probes']} probes ({g['probes_failing_the_gate']} fail the gate); spare threshold "
                f"{g['spare_threshold_now']} / {g['spare_threshold_today']}"
            )
            print(
                f"    spare: enrolled left visible {pct(now['spare_enrolled_left_visible'])} / "
                f"{pct(today['spare_enrolled_left_visible'])}, strangers left visible "
                f"{pct(now['spare_strangers_left_visible'])} ({now['spare_strangers_left_visible_count']}) / "
                f"{pct(today['spare_strangers_left_visible'])} ({today['spare_strangers_left_visible_count']})"
            )
            print(
                f"    identify: rank-1 {pct(now['identify_rank1'])} / {pct(today['identify_rank1'])}; named right "
                f"at the identify threshold {pct(now['identify_enrolled_named_right'])} / "
                f"{pct(today['identify_enrolled_named_right'])}; strangers named "
                f"{pct(now['identify_strangers_named'])} ({now['identify_strangers_named_count']}) / "
                f"{pct(today['identify_strangers_named'])} ({today['identify_strangers_named_count']})"
            )
            if "api_check" in g:
                print(f"    spare_gallery through the API: {g['api_check']}")
    for a in r.get("anonymization_variants") or ([r["anonymization"]] if "anonymization" in r else []):
        print(
            f"\n4. Anonymization checked by recognition ({a.get('options', 'default')}): {a['photos']} WIDER photos, "
            f"{a['faces_compared']} faces >= 32 px (median width {a['face_width_median']}); "
            f"skipped {a['faces_skipped']}"
        )
        print(
            f"  similarity original vs blurred: percentiles {a['similarity_percentiles']}, mean "
            f"{a['similarity_mean']:.3f}"
        )
        print(
            f"  below the verify threshold: {pct(a['share_below_verify_threshold'])} "
            f"({a['faces_at_or_above_verify_threshold']} at or above); below 0.2: {pct(a['share_below_0.2'])}"
        )
        if reid := a.get("reidentification"):
            print(
                f"  re-identification among the {reid['faces']} blurred faces: own blur nearest to the original "
                f"{pct(reid['own_blur_nearest_share'])} (chance {pct(reid['chance_share'])}), median rank "
                f"{reid['own_blur_rank_median']:.0f}; an original at or above the threshold with another person's "
                f"blur: {pct(reid['other_blurs_at_threshold_share'])} of pairs"
            )
            print(
                f"  of those at or above the threshold, own blur also the nearest: "
                f"{reid['at_threshold_and_own_blur_nearest']}; other people's blurs each of them matches as well: "
                f"{reid['at_threshold_other_blurs_matched']}"
            )
    if "gallery_cost" in r:
        print("\n5. Gallery matching (in the gateway process) and loading from Redis")
        for row in r["gallery_cost"]:
            print(
                f"  {row['faces']:>7} faces: best_matches {row['best_matches_ms_median']} ms (p90 "
                f"{row['best_matches_ms_p90']}; dot product alone {row['dot_product_only_ms_median']} ms), "
                f"vectors() {row['vectors_load_s_median']} s, reload after a change {row['reload_after_change_s']} s, "
                f"matcher memory {row['matcher_vectors_mb']} MB vectors + {row['matcher_subject_names_mb']} MB names, "
                f"Redis {row['redis_used_mb']} MB"
            )
    print(f"\ntotal {r['seconds_total']} s")


if __name__ == "__main__":
    main()
