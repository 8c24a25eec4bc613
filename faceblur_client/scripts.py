"""What the two original FaceBlur scripts (test_detection.py, test_blurring.py) share: their common options, and
one task submitted and waited for, with problems printed instead of raised."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faceblur_client.client import DEFAULT_URL, FaceBlurClient, JobKind, TaskOutcome
from faceblur_client.errors import FaceBlurError

PRESETS = ("fast", "balanced", "max_recall")
# ../shared beside the checkout (the scripts' folder): the reference project's own test image, two faces.
REFERENCE_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "test.jpg"


def script_parser(description: str) -> argparse.ArgumentParser:
    """IMAGE (default: the reference photo), --url, --timeout, --preset and --threshold; each script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "image", nargs="?", type=Path, default=REFERENCE_IMAGE, help="image file (default: %(default)s)"
    )
    parser.add_argument("--url", default=DEFAULT_URL, help="the gateway's base URL (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result (default: 120)")
    parser.add_argument("--preset", choices=PRESETS, help="detection preset")
    parser.add_argument("--threshold", type=float, help="drop faces below this confidence (0..1)")
    return parser


def run_task(kind: JobKind, args: argparse.Namespace, **options: object) -> TaskOutcome | None:
    """Submit args.image for `kind` and wait; None (after printing why to stderr) when it failed or timed out."""
    client = FaceBlurClient(args.url, timeout=args.timeout)
    try:
        task_id = client.submit(kind, args.image, preset=args.preset, threshold=args.threshold, **options)
        print(f"task {task_id} submitted; waiting for the result", file=sys.stderr)  # stdout: results only
        return client.wait(task_id)
    except (FaceBlurError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return None
