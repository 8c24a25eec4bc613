#!/usr/bin/env python3
"""Detect the faces in an image with a running FaceBlur gateway and print their boxes.

    python test_detection.py [IMAGE] [--url http://127.0.0.1:8000] [--json]

Standard library only (with the faceblur_client package beside it). Exits 1 when the task fails or times out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceblur_client import DEFAULT_URL, FaceBlurClient, FaceBlurError

# ../shared beside the checkout: the reference project's own test image, two faces.
DEFAULT_IMAGE = Path(__file__).resolve().parent.parent / "shared" / "data" / "reference" / "test.jpg"


def main() -> int:
    parser = argparse.ArgumentParser(description="Detect faces with the FaceBlur API and print their boxes.")
    parser.add_argument("image", nargs="?", type=Path, default=DEFAULT_IMAGE, help="image file (default: %(default)s)")
    parser.add_argument("--url", default=DEFAULT_URL, help="the gateway's base URL (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result (default: 120)")
    parser.add_argument("--preset", choices=("fast", "balanced", "max_recall"), help="detection preset")
    parser.add_argument("--threshold", type=float, help="drop faces below this confidence (0..1)")
    parser.add_argument("--json", action="store_true", help="print the whole task result as JSON")
    args = parser.parse_args()
    client = FaceBlurClient(args.url, timeout=args.timeout)
    try:
        task_id = client.submit("detect", args.image, preset=args.preset, threshold=args.threshold)
        print(f"task {task_id} submitted; waiting for the result", file=sys.stderr)  # stdout: results only
        outcome = client.wait(task_id)
    except (FaceBlurError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(outcome.task, indent=2))
        return 0
    print(f"{outcome.face_count} face(s) in {args.image} ({outcome.task.get('model', 'unknown model')}):")
    for name, face in outcome.faces.items():
        confidence = face.get("confidence")
        score = f"  confidence {confidence:.2f}" if confidence is not None else ""
        print(f"  {name}: facial_area {face['facial_area']}{score}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
