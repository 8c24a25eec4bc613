#!/usr/bin/env python3
"""Detect the faces in an image with a running FaceBlur gateway and print their boxes.

    python test_detection.py [IMAGE] [--url http://127.0.0.1:8000] [--json]

Standard library only (with faceblur_client.py beside it). Exits 1 when the task fails or times out.
"""

from __future__ import annotations

import json
import sys

from faceblur_client import TaskError, common_arguments, submit, wait_for_result


def main() -> int:
    parser = common_arguments("Detect faces with the FaceBlur API and print their boxes.")
    parser.add_argument("--json", action="store_true", help="print the whole task result as JSON")
    args = parser.parse_args()
    try:
        task_id = submit(args.url, "detect_faces", args.image, {"preset": args.preset, "threshold": args.threshold})
        print(f"task {task_id} submitted; waiting for the result", file=sys.stderr)
        task = wait_for_result(args.url, task_id, args.timeout)
    except (TaskError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(task, indent=2))
        return 0
    faces = task["result"]
    print(f"{len(faces)} face(s) in {args.image} ({task.get('model', 'unknown model')}):")
    for name, face in faces.items():
        confidence = face.get("confidence")
        score = f"  confidence {confidence:.2f}" if confidence is not None else ""
        print(f"  {name}: facial_area {face['facial_area']}{score}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
