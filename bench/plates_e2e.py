"""What plates=true costs end to end, through a real stack (Redis, a face service, the gateway), both sides in one run.

    .venv/bin/python -m bench.plates_e2e                       # 24 photos, a 10 s 720p clip
    .venv/bin/python -m bench.plates_e2e --photos 8 --seconds 4   # a quick look

Photos: half plates_dev (cars, alternately European and Brazilian), half wider_train (people, few cars), each sent
to /blur_faces (and /detect_faces with --kinds) with the default face preset, once with plates=true and once
without, in alternating order, one request at a time; latency is upload start to result received (?wait=). The
figure is the ratio of the summed latencies (issue 25: at most 1.5).

Video: a 720p 25 fps H.264 clip panned and zoomed across a plates_dev photo (a plate in view throughout), sent to
/blur_video with and without plates; fps = frames / (upload start to SUCCESS) (issue 25: >= 25 with plates).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.videos import write_h264  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
PLATES_DEV = SHARED / "data" / "plates_dev"
WIDER = SHARED / "data" / "wider_train"
VIDEO_PHOTO = "br/AYO9034.jpg"  # 1280 x 720, the plate near the middle


def photos(count: int) -> list[Path]:
    plates = json.loads((PLATES_DEV / "gt.json").read_text())
    eu = sorted(name for name in plates if name.startswith("eu/"))
    br = sorted(name for name in plates if name.startswith("br/"))
    half = count // 2
    cars = [(eu, br)[i % 2][(i // 2) * 7 % len((eu, br)[i % 2])] for i in range(half)]
    people = sorted(json.loads((WIDER / "gt.json").read_text()))
    return [PLATES_DEV / "images" / name for name in cars] + [
        WIDER / "images" / people[i * len(people) // (count - half)] for i in range(count - half)
    ]


def timed_task(api: httpx.Client, endpoint: str, files: dict, data: dict, timeout: float) -> tuple[float, dict]:
    started = time.perf_counter()
    response = api.post(f"/{endpoint}", files=files, data=data, params={"wait": min(timeout, 60)})
    body = response.json()
    if response.status_code == 202 or body.get("status") not in ("SUCCESS", "FAILURE"):
        task_id = body.get("task_id") or body["task_ids"][0]
        deadline = started + timeout
        while body.get("status") not in ("SUCCESS", "FAILURE") and time.perf_counter() < deadline:
            body = api.get(f"/task_result/{task_id}", params={"wait": 10}).json()
    seconds = time.perf_counter() - started
    if body.get("status") != "SUCCESS":
        raise RuntimeError(f"{endpoint} failed: {body}")
    return seconds, body


def photo_costs(api: httpx.Client, paths: list[Path], kinds: list[str]) -> dict:
    rows = {}
    for kind in kinds:
        endpoint = f"{kind}_faces"
        spent = {True: {"cars": 0.0, "people": 0.0}, False: {"cars": 0.0, "people": 0.0}}
        plates_found = {"cars": 0, "people": 0}
        for index, path in enumerate(paths):
            group = "cars" if PLATES_DEV in path.parents else "people"
            data = path.read_bytes()
            for plates in (True, False) if index % 2 else (False, True):
                options = {"plates": "true"} if plates else {}
                seconds, body = timed_task(api, endpoint, {"file": (path.name, data)}, options, 120)
                spent[plates][group] += seconds
                if plates:
                    plates_found[group] += body["plate_count"]
        with_plates, without = sum(spent[True].values()), sum(spent[False].values())
        rows[kind] = {
            "photos": len(paths),
            "seconds_with_plates": round(with_plates, 3),
            "seconds_without": round(without, 3),
            "ratio": round(with_plates / without, 3),
            "ratio_cars": round(spent[True]["cars"] / max(spent[False]["cars"], 1e-9), 3),
            "ratio_people": round(spent[True]["people"] / max(spent[False]["people"], 1e-9), 3),
            "plates_found": plates_found,
        }
        print(
            f"photo {kind:6s} {len(paths)} photos: {with_plates:6.1f} s with plates, {without:6.1f} s without: "
            f"x{with_plates / without:.2f} (cars x{rows[kind]['ratio_cars']:.2f}, people "
            f"x{rows[kind]['ratio_people']:.2f}; target <= 1.5); plates found {plates_found}",
            flush=True,
        )
    return rows


def pan_and_zoom(photo: np.ndarray, t: float, size: tuple[int, int]) -> np.ndarray:
    """The frame at ``t`` (0 to 1) of a window panning across ``photo`` and slowly zooming in and out, at ``size``."""
    height, width = photo.shape[:2]
    zoom = 0.8 + 0.15 * np.sin(np.pi * t)
    w, h = width * zoom, height * zoom
    x, y = (width - w) * t, (height - h) * (0.5 + 0.4 * np.sin(2 * np.pi * t) / 2)
    window = photo[round(y) : round(y + h), round(x) : round(x + w)]
    return cv2.resize(window, size, interpolation=cv2.INTER_AREA)


def write_clip(path: Path, seconds: float, fps: int = 25, size: tuple[int, int] = (1280, 720)) -> int:
    """A clip panned and slowly zoomed across VIDEO_PHOTO; returns its frame count."""
    photo = cv2.cvtColor(cv2.imread(str(PLATES_DEV / "images" / VIDEO_PHOTO)), cv2.COLOR_BGR2RGB)
    frames = round(seconds * fps)
    windows = (pan_and_zoom(photo, index / max(frames - 1, 1), size) for index in range(frames))
    write_h264(path, windows, fps, size, {"crf": "20", "preset": "veryfast", "g": str(fps)})
    return frames


def video_costs(api: httpx.Client, clip: Path, frames: int) -> dict:
    rows = {}
    for plates in (False, True):
        options = {"plates": "true"} if plates else {}
        seconds, body = timed_task(api, "blur_video", {"file": (clip.name, clip.read_bytes())}, options, 900)
        result = body["result"]
        rows["with_plates" if plates else "without"] = {
            "frames": frames,
            "seconds": round(seconds, 2),
            "fps": round(frames / seconds, 2),
            "tracks": result["tracks"],
            "plate_tracks": result.get("plate_tracks"),
        }
        print(
            f"video 720p {frames} frames {'with' if plates else 'without'} plates: {seconds:6.1f} s, "
            f"{frames / seconds:5.1f} fps (target with plates >= 25); plate tracks {result.get('plate_tracks')}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--kinds", default="blur", help="comma-separated: detect, blur")
    parser.add_argument("--seconds", type=float, default=10.0, help="video clip length (0: no video)")
    parser.add_argument("--workers", type=int, default=0, help="FACE_WORKERS (default: the service's, one per core)")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench" / "out" / "plates_e2e.json")
    args = parser.parse_args(argv)

    from tests.stack import FaceService, Gateway, RedisServer

    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="plates-e2e-") as folder:
        work = Path(folder)
        media = work / "media"
        media.mkdir()
        face_env = {"FACE_MEDIA_DIR": str(media), "FACE_QUEUE_SIZE": "64"}
        if args.workers:
            face_env["FACE_WORKERS"] = str(args.workers)
        redis_server = RedisServer(work).start()
        face = FaceService(work, **face_env).start()
        gateway = Gateway(
            work, redis_server.url, [face.address], GATEWAY_MEDIA_DIR=str(media), GATEWAY_LOG_LEVEL="WARNING"
        ).start()
        try:
            with httpx.Client(base_url=gateway.url, timeout=900) as api:
                # Warm-up: every worker loads the plate model on its first plate job (a one-time cost, about a
                # second a worker); jobs sent at once reach every worker.
                warm = {"file": ("a.jpg", photos(2)[0].read_bytes())}
                with ThreadPoolExecutor(8) as pool:
                    list(pool.map(lambda _: timed_task(api, "blur_faces", warm, {"plates": "true"}, 300), range(8)))
                results: dict = {"load_before": load}
                if args.photos:
                    results["photos"] = photo_costs(api, photos(args.photos), args.kinds.split(","))
                if args.seconds:
                    clip = work / "plates720.mp4"
                    frames = write_clip(clip, args.seconds)
                    results["video"] = video_costs(api, clip, frames)
                results["load_after"] = os.getloadavg()
                print(f"load after: {' '.join(f'{x:.2f}' for x in results['load_after'])}", flush=True)
        finally:
            for process in (gateway, face, redis_server):
                process.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
