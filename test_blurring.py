#!/usr/bin/env python3
"""Anonymize the faces in an image with a running FaceBlur gateway and save the result.

    python test_blurring.py [IMAGE] [-o blurred_image.jpg] [--url http://127.0.0.1:8000] [--mode pixelate]

Standard library only (with faceblur_client.py beside it). Exits 1 when the task fails or times out.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from faceblur_client import TaskError, common_arguments, submit, wait_for_result


def main() -> int:
    parser = common_arguments("Blur the faces in an image with the FaceBlur API and save the result.")
    parser.add_argument("-o", "--output", type=Path, default=Path("blurred_image.jpg"), help="default: %(default)s")
    parser.add_argument("--mode", choices=("blur", "pixelate", "solid"), help="how faces are hidden (default: blur)")
    parser.add_argument("--mask", choices=("ellipse", "box"), help="shape of the hidden area (default: ellipse)")
    args = parser.parse_args()
    fields = {"preset": args.preset, "threshold": args.threshold, "mode": args.mode, "mask": args.mask}
    try:
        task_id = submit(args.url, "blur_faces", args.image, fields)
        print(f"task {task_id} submitted; waiting for the result", file=sys.stderr)
        task = wait_for_result(args.url, task_id, args.timeout)
        args.output.write_bytes(base64.b64decode(task["result"]))
    except (TaskError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    image_format = task.get("image_format", "jpeg")
    print(f"{len(task.get('faces') or {})} face(s) anonymized; {image_format} image saved to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
