"""Memory of the gateway and the face service under the loads the Kubernetes manifests are sized for.

    .venv/bin/python deploy/kubernetes/measure_resources.py [--workers 2] [--json out.json]

Starts Redis, one face service (FACE_WORKERS = --workers) and one gateway (one HTTP process) on loopback, as
``make run`` does (tests/stack.py), and samples the proportional set size (PSS, /proc/PID/smaps_rollup) of each
service's whole process tree every 0.2 s: the gateway's uvicorn process and its children, the face service's
main process and its worker processes. PSS counts a shared page once over the processes that share it, so the
sum is what the processes take together, close to what a container's cgroup is charged for them (the cgroup
also counts page cache, which the kernel reclaims before it kills anything).

Phases, each reported with the peak of both trees and of the largest single face-service process:
  idle        started, nothing sent yet (the workers have loaded the model)
  images      4 clients sending the soak's mix of small photos (bench/soak.py) for --seconds
  big image   a 48-megapixel JPEG (8000x6000, upscaled reference photo) blurred with max_recall, as many at
              once as there are workers: about the largest image FACE_MAX_PIXELS (50 MP) lets through, on
              the most expensive preset, on every worker at once (the worst case for the image path)
  video 1080p a 4 s 1920x1080 clip through /blur_video (segments on every worker)
  video 4k    a 2 s 3840x2160 clip through /blur_video (the largest frame GATEWAY_VIDEO_MAX_RESOLUTION allows)

The figures in deploy/kubernetes/base/*.yaml (resources) and the README's "Deploy on Kubernetes" come from a
run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402
import httpx  # noqa: E402

from bench.soak import final_task, in_turn, mixed_inputs  # noqa: E402
from tests.stack import REFERENCE_IMAGE, Stack  # noqa: E402
from tests.videos import write_clip  # noqa: E402

MIB = 1024 * 1024
SAMPLE_SECONDS = 0.2


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children(current)
    return pids


def pss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Sampler:
    """Peak PSS of each tree (and of its largest process) since the last ``take``."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots = roots
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reset()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _reset(self) -> None:
        self.peak_total = dict.fromkeys(self.roots, 0.0)
        self.peak_process = dict.fromkeys(self.roots, 0.0)
        self.processes = dict.fromkeys(self.roots, 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, root in self.roots.items():
                sizes = [pss_mib(pid) for pid in tree(root)]
                with self._lock:
                    self.peak_total[name] = max(self.peak_total[name], sum(sizes))
                    self.peak_process[name] = max(self.peak_process[name], max(sizes, default=0.0))
                    self.processes[name] = max(self.processes[name], len(sizes))
            time.sleep(SAMPLE_SECONDS)

    def take(self) -> dict:
        time.sleep(2 * SAMPLE_SECONDS)
        with self._lock:
            report = {
                name: {
                    "peak_total_mib": round(self.peak_total[name]),
                    "largest_process_mib": round(self.peak_process[name]),
                    "processes": self.processes[name],
                }
                for name in self.roots
            }
            self._reset()
        return report

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def finish(api: httpx.Client, task_id: str, limit: float = 600) -> str:
    record = final_task(api, task_id, limit, poll_wait=30)
    if record is None:
        return "timeout"
    return record["status"] + ("" if record["status"] == "SUCCESS" else f" ({record.get('error')})")


def post(api: httpx.Client, endpoint: str, name: str, data: bytes, **form: str) -> str:
    answer = api.post(f"/{endpoint}", files={"file": (name, data, "application/octet-stream")}, data=form)
    if answer.status_code != 202:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    return finish(api, answer.json()["task_id"])


def image_mix(api_factory, seconds: float, clients: int = 4) -> dict:
    inputs = [item for item in mixed_inputs() if item.expected == "SUCCESS"]
    stop_at = time.monotonic() + seconds
    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def load(worker: int) -> None:
        with api_factory() as api:
            for item in in_turn(inputs, worker, clients, stop_at):
                got = post(api, item.endpoint, "photo.jpg", item.data)
                with lock:
                    outcomes[got] = outcomes.get(got, 0) + 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(load, range(clients)))
    return outcomes


def big_jpeg(width: int = 8000, height: int = 6000) -> bytes:
    photo = cv2.resize(cv2.imread(str(REFERENCE_IMAGE)), (width, height), interpolation=cv2.INTER_CUBIC)
    ok, encoded = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="FACE_WORKERS (default: cores)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the small-image phase")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()

    os.environ["FACE_WORKERS"] = str(args.workers)
    report: dict = {"face_workers": args.workers, "gateway_http_processes": 1, "phases": {}}
    with tempfile.TemporaryDirectory(prefix="faceblur-measure-") as work:
        work_dir = Path(work)
        big = big_jpeg()
        clip_1080 = write_clip(work_dir / "1080p.mp4", seconds=4.0, size=(1920, 1080))
        clip_4k = write_clip(work_dir / "4k.mp4", seconds=2.0, size=(3840, 2160))
        stack = Stack(work_dir / "stack", GATEWAY_HTTP_PROCESSES="1").start()
        sampler = Sampler({"gateway": stack.gateway.pid, "face_service": stack.face.pid})
        try:
            time.sleep(3)

            def api_factory() -> httpx.Client:
                return stack.gateway.client(timeout=120)

            phases = report["phases"]
            phases["idle"] = sampler.take()
            print("idle", phases["idle"], file=sys.stderr)

            outcomes = image_mix(api_factory, args.seconds)
            phases["images"] = sampler.take() | {"outcomes": outcomes}
            print("images", phases["images"], file=sys.stderr)

            with api_factory() as api, ThreadPoolExecutor(args.workers) as pool:
                jobs = [
                    pool.submit(post, api, "blur_faces", "big.jpg", big, preset="max_recall")
                    for _ in range(args.workers)
                ]
                outcomes = [job.result() for job in jobs]
            phases["big image"] = sampler.take() | {"outcomes": outcomes, "jpeg_mib": round(len(big) / MIB, 1)}
            print("big image", phases["big image"], file=sys.stderr)

            for name, clip in (("video 1080p", clip_1080), ("video 4k", clip_4k)):
                with api_factory() as api:
                    outcome = post(api, "blur_video", clip.name, clip.read_bytes())
                phases[name] = sampler.take() | {"outcome": outcome}
                print(name, phases[name], file=sys.stderr)
        finally:
            sampler.stop()
            stack.stop()

    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
