#!/usr/bin/env python3
"""Anonymize the faces in an image with a running FaceBlur gateway and save the result.

    python test_blurring.py [IMAGE] [-o blurred_image.jpg] [--url http://127.0.0.1:8000] [--mode pixelate]

Standard library only (with the faceblur_client package beside it). Exits 1 when the task fails or times out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from faceblur_client import TaskOutcome
from faceblur_client.scripts import run_task, script_parser


def save(outcome: TaskOutcome, output: Path) -> int:
    """Write the anonymized image; the exit status."""
    try:
        outcome.save(output)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{outcome.face_count} face(s) anonymized; {outcome.image_format} image saved to {output}")
    return 0


def main() -> int:
    parser = script_parser("Blur the faces in an image with the FaceBlur API; save the result.")
    parser.add_argument("-o", "--output", type=Path, default=Path("blurred_image.jpg"), help="default: %(default)s")
    parser.add_argument("--mode", choices=("blur", "pixelate", "solid"), help="how faces are hidden (default: blur)")
    parser.add_argument("--mask", choices=("ellipse", "box"), help="shape of the hidden area (default: ellipse)")
    args = parser.parse_args()
    outcome = run_task("blur", args, mode=args.mode, mask=args.mask)
    return 1 if outcome is None else save(outcome, args.output)


if __name__ == "__main__":
    sys.exit(main())
