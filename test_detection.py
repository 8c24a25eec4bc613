#!/usr/bin/env python3
"""Detect the faces in an image with a running FaceBlur gateway and print their boxes.

    python test_detection.py [IMAGE] [--url http://127.0.0.1:8000] [--json]

Standard library only (with the faceblur_client package beside it). Exits 1 when the task fails or times out.
"""

from __future__ import annotations

import json
import sys

from faceblur_client.scripts import run_task, script_parser


def main() -> int:
    parser = script_parser("Detect faces with the FaceBlur API and print their boxes.")
    parser.add_argument("--json", action="store_true", help="print the whole task result as JSON")
    args = parser.parse_args()
    outcome = run_task("detect", args)
    if outcome is None:
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
