"""One request of 32 images against 32 requests of one, through the `faceblur` command, side by side.

    python -m bench.batch_bench [--images 32] [--rounds 3] [--preset fast]

Starts its own stack (Redis, one face service with a worker per core, one gateway), then runs
`faceblur detect` on the same photos alternately with --batch-size 32 and --batch-size 1 (the same -j), and
prints each run's seconds and the ratio of the medians (batched / separate; below 1 means batching is faster).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.photos import sample_photo_paths

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_cli(url: str, photos: list[Path], batch_size: int, preset: str) -> float:
    command = [sys.executable, "-m", "faceblur_client.cli", "detect", "--url", url, "--preset", preset]
    command += ["--batch-size", str(batch_size), "-j", "4", *map(str, photos)]
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--preset", default="fast")
    args = parser.parse_args()
    from tests.stack import Stack

    photos = sample_photo_paths(args.images)
    with tempfile.TemporaryDirectory() as work_dir:
        stack = Stack(Path(work_dir), GATEWAY_LOG_LEVEL="WARNING").start()
        try:
            url = stack.gateway.url
            run_cli(url, photos[:4], 4, args.preset)  # warm up
            batched, separate = [], []
            for _ in range(args.rounds):
                batched.append(run_cli(url, photos, len(photos), args.preset))
                separate.append(run_cli(url, photos, 1, args.preset))
        finally:
            stack.stop()
    rows = {f"one request of {len(photos)}": batched, f"{len(photos)} requests of 1": separate}
    print(f"{len(photos)} photos, preset {args.preset}, -j 4, {args.rounds} rounds alternating")
    for label, seconds in rows.items():
        print(f"{label:<20} " + ", ".join(f"{s:.2f}" for s in seconds) + " s")
    print(f"ratio batched / separate (medians): {statistics.median(batched) / statistics.median(separate):.2f}")


if __name__ == "__main__":
    main()
