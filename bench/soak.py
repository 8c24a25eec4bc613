"""Soak test: bounded mixed load (good and bad uploads) against a stack this script starts on loopback.

    .venv/bin/python -m bench.soak [--seconds 60] [--concurrency 4] [--json bench/out/soak.json]

Reports requests served, outcomes by kind, peak RSS of the gateway and the face service (VmRSS sampled from
/proc), and whether memory stayed bounded: the mean RSS in the last third of the run, after warm-up, may exceed
the first third's by at most ``GROWTH_ALLOWANCE`` (a fraction) or ``GROWTH_FLOOR_MIB``, whichever is larger.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from tests.gateway.helpers import small_jpeg
from tests.stack import Stack


@dataclass(frozen=True)
class Input:
    """One kind of upload the soak sends, and how it must end."""

    kind: str
    endpoint: str
    data: bytes
    expected: str  # "SUCCESS", "FAILURE", or the HTTP status at upload


MAX_SECONDS = 600
WARM_UP_FRACTION = 0.2
GROWTH_ALLOWANCE = 0.25
GROWTH_FLOOR_MIB = 40.0
SAMPLE_SECONDS = 0.5
RESULT_WAIT_SECONDS = 30.0


def mixed_inputs() -> list[Input]:
    good = small_jpeg(480)
    return [
        Input("good detect", "detect_faces", good, "SUCCESS"),
        Input("good blur", "blur_faces", good, "SUCCESS"),
        Input("good detect", "detect_faces", good, "SUCCESS"),
        Input("truncated jpeg", "blur_faces", good[: len(good) // 2], "FAILURE"),
        Input("not an image", "detect_faces", b"<html>not a photo</html>", "415"),
        Input("empty", "blur_faces", b"", "400"),
    ]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class MemoryTrack:
    name: str
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)

    def peak(self) -> float:
        return max((mib for _, mib in self.samples), default=0.0)

    def verdict(self, duration: float) -> dict:
        start = duration * WARM_UP_FRACTION
        third = (duration - start) / 3
        first = [mib for t, mib in self.samples if start <= t < start + third]
        last = [mib for t, mib in self.samples if t >= duration - third]
        if not first or not last:
            return {"bounded": True, "note": "too few samples to judge"}
        first_mean, last_mean = sum(first) / len(first), sum(last) / len(last)
        allowed = max(first_mean * GROWTH_ALLOWANCE, GROWTH_FLOOR_MIB)
        return {
            "bounded": last_mean - first_mean <= allowed,
            "first_third_mean_mib": round(first_mean, 1),
            "last_third_mean_mib": round(last_mean, 1),
            "allowed_growth_mib": round(allowed, 1),
        }


@dataclass
class SoakReport:
    seconds: float
    concurrency: int
    requests: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    unexpected: dict[str, int] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    memory: dict[str, dict] = field(default_factory=dict)

    @property
    def memory_bounded(self) -> bool:
        return all(verdict["bounded"] for verdict in self.memory.values())

    def to_dict(self) -> dict:
        return asdict(self) | {"memory_bounded": self.memory_bounded}


def in_turn(inputs: Sequence[Input], worker: int, workers: int, stop_at: float) -> Iterator[Input]:
    """Worker ``worker``'s share of ``inputs`` (every ``workers``-th, starting at its own number), round and round
    until the monotonic clock reaches ``stop_at``."""
    n = worker
    while time.monotonic() < stop_at:
        yield inputs[n % len(inputs)]
        n += workers


def outcome(api: httpx.Client, item: Input) -> str:
    """What the user got: the HTTP status at upload, or the task's final status (or 'timeout')."""
    answer = api.post(f"/{item.endpoint}", files={"file": ("soak.jpg", item.data, "image/jpeg")})
    if answer.status_code != 202:
        return str(answer.status_code)
    task = final_task(api, answer.json()["task_id"], RESULT_WAIT_SECONDS, poll_wait=10)
    return "timeout" if task is None else task["status"]


def final_task(api: httpx.Client, task_id: str, seconds: float, poll_wait: float) -> dict | None:
    """The task once it has finished (SUCCESS or FAILURE), long-polling ``poll_wait`` seconds at a time; None when
    it has not finished within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task = api.get(f"/task_result/{task_id}", params={"wait": poll_wait}).json()
        if task["status"] in ("SUCCESS", "FAILURE"):
            return task
    return None


def run_soak(
    stack: Stack, seconds: float, concurrency: int = 4, progress: Callable[[str], None] | None = None
) -> SoakReport:
    seconds = min(seconds, MAX_SECONDS)
    inputs = mixed_inputs()
    report = SoakReport(seconds=seconds, concurrency=concurrency)
    outcomes: Counter[str] = Counter()
    unexpected: Counter[str] = Counter()
    lock = threading.Lock()
    tracks = {"gateway": MemoryTrack("gateway"), "face_service": MemoryTrack("face_service")}
    pids = {"gateway": stack.gateway.pid, "face_service": stack.face.pid}
    started = time.monotonic()
    stop_at = started + seconds

    def load(worker: int) -> None:
        with stack.gateway.client(timeout=RESULT_WAIT_SECONDS + 10) as api:
            for item in in_turn(inputs, worker, concurrency, stop_at):
                try:
                    got = outcome(api, item)
                except httpx.HTTPError as error:
                    got = f"transport error ({type(error).__name__})"
                with lock:
                    outcomes[f"{item.kind}: {got}"] += 1
                    if got != item.expected:
                        unexpected[f"{item.kind}: {got}"] += 1

    def sample() -> None:
        while time.monotonic() < stop_at:
            now = time.monotonic() - started
            for name, pid in pids.items():
                tracks[name].samples.append((now, rss_mib(pid)))
            if progress and len(tracks["gateway"].samples) % 20 == 0:
                with lock:
                    served = sum(outcomes.values())
                progress(
                    f"{now:5.0f} s: {served} requests, gateway {tracks['gateway'].samples[-1][1]:.0f} MiB, "
                    f"face service {tracks['face_service'].samples[-1][1]:.0f} MiB"
                )
            time.sleep(SAMPLE_SECONDS)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(concurrency)]
    threads.append(threading.Thread(target=sample))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    report.requests = sum(outcomes.values())
    report.outcomes = dict(sorted(outcomes.items()))
    report.unexpected = dict(unexpected)
    report.peak_rss_mib = {name: round(track.peak(), 1) for name, track in tracks.items()}
    report.memory = {name: track.verdict(seconds) for name, track in tracks.items()}
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help=f"load duration (at most {MAX_SECONDS})")
    parser.add_argument("--concurrency", type=int, default=4, help="clients sending at once")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}]")

    with tempfile.TemporaryDirectory(prefix="faceblur-soak-") as work:
        stack = Stack(Path(work)).start()
        try:
            report = run_soak(stack, args.seconds, args.concurrency, progress=lambda line: print(line, file=sys.stderr))
        finally:
            stack.stop()
    text = json.dumps(report.to_dict(), indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    verdict = "memory bounded" if report.memory_bounded else "MEMORY GREW"
    print(
        f"{report.requests} requests, {sum(report.unexpected.values())} unexpected outcomes, {verdict}", file=sys.stderr
    )
    return 0 if report.memory_bounded and not report.unexpected else 1


if __name__ == "__main__":
    sys.exit(main())
