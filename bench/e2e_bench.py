"""End-to-end load over real HTTP next to the bare detector, on the same photos, in one run.

    python bench/e2e_bench.py                      # starts its own stacks: 1 and 2 face-service replicas
    python bench/e2e_bench.py --url http://127.0.0.1:8000 --replicas 1   # against a running stack
    python bench/e2e_bench.py --workers 16         # one face service with 16 workers, clients 4 x 16

N closed-loop clients each upload a photo (POST /detect_faces or /blur_faces), wait for its result with
GET /task_result/{id}?wait=..., and start the next one; every run is bounded in requests and seconds and talks to
127.0.0.1 only. Latency is upload start to result received. The bare detector runs the same job code
(decode + detect [+ blur + encode]) in as many worker processes as the face service, each with its own model,
without the gRPC server, the gateway or Redis: the ceiling the stack can reach on this machine. The ratio says
what HTTP, Redis, gRPC and polling cost on top.

Each row also shows the face services' workers and the jobs the gateway's dispatchers held (mean and most,
sampled from the gateway's /metrics every 50 ms during the load) against their in-flight limit: a mean well
below the workers means the dispatcher, not the face service, set the pace.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.photos import SHARED, sample_photo_paths  # noqa: E402
from face_detection_service.detection.presets import get_preset  # noqa: E402
from face_detection_service.jobs import JobSpec  # noqa: E402
from face_detection_service.workers import load_worker_model, run_job_in_worker, worker_model_name  # noqa: E402

MODEL = Path(os.environ.get("FACE_MODEL", SHARED / "models" / "yolov8n-face_int8.tflite"))


def bench_photos(count: int) -> list[bytes]:
    return [path.read_bytes() for path in sample_photo_paths(count)]


# ---------------------------------------------------------------- HTTP client (stdlib: keep the load generator light)


class Client:
    def __init__(self, base_url: str):
        parsed = urlparse(base_url)
        assert parsed.hostname in ("127.0.0.1", "localhost", "::1"), "the benchmark only targets loopback"
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> dict:
        self.connection.request(method, path, body=body, headers=headers or {})
        response = self.connection.getresponse()
        payload = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {response.status}: {payload[:300]!r}")
        return json.loads(payload)

    def run_task(self, kind: str, photo: bytes, preset: str = "") -> dict:
        boundary = uuid.uuid4().hex
        fields = f'--{boundary}\r\nContent-Disposition: form-data; name="preset"\r\n\r\n{preset}\r\n' if preset else ""
        body = (
            (
                f"{fields}"
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + photo
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        task_id = self.request("POST", f"/{kind}_faces", body, headers)["task_id"]
        while True:
            task = self.request("GET", f"/task_result/{task_id}?wait=30")
            if task["status"] in ("SUCCESS", "FAILURE"):
                return task


@dataclass
class LoadResult:
    completed: int
    failed: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class InFlightSampler:
    """Samples the gateway's dispatcher gauges from /metrics while a load runs (a thread; stdlib only)."""

    NAMES = ("faceblur_gateway_dispatcher_in_flight", "faceblur_gateway_dispatcher_in_flight_limit",
             "faceblur_gateway_face_workers")  # fmt: skip

    def __init__(self, url: str, interval: float = 0.05):
        self.url, self.interval = url, interval
        self.samples: list[dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> InFlightSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        parsed = urlparse(self.url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=10)
        while not self._stop.wait(self.interval):
            try:
                connection.request("GET", "/metrics")
                text = connection.getresponse().read().decode()
            except (OSError, http.client.HTTPException):
                connection.close()
                continue
            values = {}
            for line in text.splitlines():
                name, _, value = line.partition(" ")
                if name in self.NAMES:
                    values[name] = float(value)
            if values:
                self.samples.append(values)

    def summary(self) -> dict[str, float]:
        def column(name: str) -> list[float]:
            return [sample.get(name, 0.0) for sample in self.samples] or [0.0]

        in_flight = column(self.NAMES[0])
        return {
            "in_flight_mean": statistics.fmean(in_flight),
            "in_flight_max": max(in_flight),
            "in_flight_limit": max(column(self.NAMES[1])),
            "face_workers": max(column(self.NAMES[2])),
        }


def run_load(
    url: str, kind: str, photos: list[bytes], concurrency: int, requests: int, max_seconds: float, preset: str = ""
) -> LoadResult:
    """Closed loop: `concurrency` clients, `requests` tasks in all (or until max_seconds), round-robin photos."""
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies: list[float] = []
    failures = [0]
    deadline = time.perf_counter() + max_seconds

    def client_loop() -> None:
        client = Client(url)
        while time.perf_counter() < deadline:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            start = time.perf_counter()
            task = client.run_task(kind, photos[index % len(photos)], preset)
            elapsed = time.perf_counter() - start
            with lock:
                if task["status"] == "SUCCESS":
                    latencies.append(elapsed)
                else:
                    failures[0] += 1

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client_loop) for _ in range(concurrency)]:
            future.result()
    return LoadResult(len(latencies), failures[0], time.perf_counter() - start, latencies)


# ---------------------------------------------------------------- the bare detector, in-process


def bare_detector(photos: list[bytes], kind: str, workers: int, rounds: int, preset: str = "") -> tuple[float, float]:
    """(images per second with `workers` processes, median seconds per image with one), the service's job code."""
    spec = JobSpec(blur=kind == "blur", preset=get_preset(preset))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, initializer=load_worker_model, initargs=(MODEL, 1)) as pool:
        list(pool.map(worker_model_name_after, range(workers * 2)))
        for photo in photos[:3]:
            pool.submit(run_job_in_worker, photo, spec, 10**9, time.time()).result()
        single = []
        for photo in photos:
            start = time.perf_counter()
            pool.submit(run_job_in_worker, photo, spec, 10**9, time.time()).result()
            single.append(time.perf_counter() - start)
        start = time.perf_counter()
        futures = [pool.submit(run_job_in_worker, p, spec, 10**9, time.time()) for p in photos * rounds]
        for future in futures:
            future.result()
        return len(futures) / (time.perf_counter() - start), statistics.median(single)


def worker_model_name_after(_: int) -> str:
    time.sleep(0.5)  # keeps each warm-up call on its own worker, so every worker has loaded its model
    return worker_model_name()


# ---------------------------------------------------------------- stacks started by the benchmark


def start_stack(work_dir: Path, replicas: int, workers_per_replica: int):
    """Redis, the face services and one gateway in its default configuration (GATEWAY_* from the environment)."""
    from tests.stack import FaceService, Gateway, RedisServer

    redis_server = RedisServer(work_dir).start()
    # Room for every client's job at the service, so no row measures RESOURCE_EXHAUSTED retries.
    queue = str(max(64, 8 * workers_per_replica))
    faces = [
        FaceService(work_dir, FACE_WORKERS=str(workers_per_replica), FACE_QUEUE_SIZE=queue).start()
        for _ in range(replicas)
    ]
    gateway = Gateway(work_dir, redis_server.url, [f.address for f in faces], GATEWAY_LOG_LEVEL="WARNING").start()
    return [gateway, *faces, redis_server]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running stack (default: start one per replica count)")
    parser.add_argument("--replicas", default="1,2", help="face-service replica counts to compare (own stacks only)")
    parser.add_argument(
        "--workers",
        type=int,
        help="one face service with this many workers (FACE_WORKERS), whatever the cores; the bare detector "
        "runs as many processes; clients default to 4 x workers",
    )
    parser.add_argument("--preset", default="", help="fast, balanced, max_recall (default: the service's)")
    parser.add_argument("--concurrency", help="client counts (default: 1,8; with --workers N: 4N)")
    parser.add_argument("--kinds", default="detect,blur")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--requests", type=int, default=96, help="tasks per load level (concurrency 1 runs a third)")
    parser.add_argument("--max-seconds", type=float, default=120, help="cap per load level")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench" / "out" / "e2e_bench.json")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    workers = args.workers or cores
    photos = bench_photos(args.images)
    kinds = args.kinds.split(",")
    levels = [int(c) for c in (args.concurrency or (str(4 * args.workers) if args.workers else "1,8")).split(",")]
    replica_counts = [1] if args.url or args.workers else [int(r) for r in args.replicas.split(",")]
    print(
        f"{len(photos)} photos, {cores} cores, preset {args.preset or 'default'}; "
        f"bare detector = same job code, {workers} worker processes\n"
    )

    bare = {kind: bare_detector(photos, kind, workers, rounds=2, preset=args.preset) for kind in kinds}
    rows = []
    for replicas in replica_counts:
        with tempfile.TemporaryDirectory(prefix="faceblur-bench-") as work_dir:
            per_replica = args.workers or max(1, cores // replicas)
            processes = [] if args.url else start_stack(Path(work_dir), replicas, per_replica)
            url = args.url or processes[0].url
            try:
                for kind in kinds:
                    run_load(url, kind, photos[:4], 2, 8, 60, args.preset)  # warm-up
                    for concurrency in levels:
                        count = args.requests if concurrency > 1 else max(8, args.requests // 3)
                        with InFlightSampler(url) as sampler:
                            load = run_load(url, kind, photos, concurrency, count, args.max_seconds, args.preset)
                        bare_throughput, bare_latency = bare[kind]
                        rows.append(
                            {
                                "kind": kind,
                                "replicas": replicas,
                                "concurrency": concurrency,
                                "completed": load.completed,
                                "failed": load.failed,
                                "images_per_s": load.throughput,
                                "p50_ms": load.percentile(0.5),
                                "p95_ms": load.percentile(0.95),
                                "p99_ms": load.percentile(0.99),
                                "bare_images_per_s": bare_throughput,
                                "bare_p50_ms": bare_latency * 1000,
                                "throughput_ratio": load.throughput / bare_throughput,
                                **sampler.summary(),
                            }
                        )
                        print_row(rows[-1])
            finally:
                for process in processes:
                    process.stop()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    summary = {"cores": cores, "workers": workers, "preset": args.preset, "photos": len(photos), "rows": rows}
    args.json.write_text(json.dumps(summary, indent=2))
    return 0


HEADER = (
    f"{'kind':6} {'replicas':>8} {'clients':>7} {'done':>5} {'fail':>4} {'img/s':>7} {'p50 ms':>7} "
    f"{'p95 ms':>7} {'p99 ms':>7} {'bare img/s':>10} {'bare p50':>8} {'ratio':>6} "
    f"{'workers':>7} {'in flight':>9} {'max':>4} {'limit':>5}"
)
_printed_header = False


def print_row(row: dict) -> None:
    global _printed_header
    if not _printed_header:
        print(HEADER)
        _printed_header = True
    print(
        f"{row['kind']:6} {row['replicas']:8d} {row['concurrency']:7d} {row['completed']:5d} {row['failed']:4d} "
        f"{row['images_per_s']:7.2f} {row['p50_ms']:7.0f} {row['p95_ms']:7.0f} {row['p99_ms']:7.0f} "
        f"{row['bare_images_per_s']:10.2f} {row['bare_p50_ms']:8.0f} {row['throughput_ratio']:6.2f} "
        f"{row['face_workers']:7.0f} {row['in_flight_mean']:9.1f} {row['in_flight_max']:4.0f} "
        f"{row['in_flight_limit']:5.0f}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
