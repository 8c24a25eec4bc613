#!/usr/bin/env python3
"""Anonymize the faces in an image with a running FaceBlur gateway and save the result.

    python test_blurring.py [IMAGE] [-o blurred_image.jpg] [--url http://127.0.0.1:8000] [--mode pixelate]

Standard library only (with the faceblur_client package beside it). Exits 1 when the task fails or times out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from faceblur_client import DEFAULT_URL, FaceBlurClient, FaceBlurError

# ../shared beside the checkout: the reference project's own test image, two faces.
DEFAULT_IMAGE = Path(__file__).resolve().parent.parent / "shared" / "data" / "reference" / "test.jpg"


def main() -> int:
    parser = argparse.ArgumentParser(description="Blur the faces in an image with the FaceBlur API; save the result.")
    parser.add_argument("image", nargs="?", type=Path, default=DEFAULT_IMAGE, help="image file (default: %(default)s)")
    parser.add_argument("-o", "--output", type=Path, default=Path("blurred_image.jpg"), help="default: %(default)s")
    parser.add_argument("--url", default=DEFAULT_URL, help="the gateway's base URL (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the result (default: 120)")
    parser.add_argument("--preset", choices=("fast", "balanced", "max_recall"), help="detection preset")
    parser.add_argument("--threshold", type=float, help="drop faces below this confidence (0..1)")
    parser.add_argument("--mode", choices=("blur", "pixelate", "solid"), help="how faces are hidden (default: blur)")
    parser.add_argument("--mask", choices=("ellipse", "box"), help="shape of the hidden area (default: ellipse)")
    args = parser.parse_args()
    client = FaceBlurClient(args.url, timeout=args.timeout)
    options = {"preset": args.preset, "threshold": args.threshold, "mode": args.mode, "mask": args.mask}
    try:
        task_id = client.submit("blur", args.image, **options)
        print(f"task {task_id} submitted; waiting for the result", file=sys.stderr)  # stdout: results only
        outcome = client.wait(task_id)
        outcome.save(args.output)
    except (FaceBlurError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{outcome.face_count} face(s) anonymized; {outcome.image_format} image saved to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
