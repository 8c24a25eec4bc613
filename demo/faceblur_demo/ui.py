"""The page: a photo and options in, the anonymized photo, the detected faces, their count and the JSON out;
a Recognition tab (faceblur_demo.recognition) that blurs everyone but the people enrolled; and a Video tab
(faceblur_demo.video) that anonymizes a video, its progress in frames."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from faceblur_demo.annotate import draw_faces, viewable
from faceblur_demo.backends import Backend
from faceblur_demo.options import DEFAULT_BOX_SCALE, MASKS, MODES, PRESETS, DemoError, Request
from faceblur_demo.recognition import recognition_tab
from faceblur_demo.video import video_tab

FILE_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp"}
# Gradio copies what a handler returns into its own cache; our copies only have to outlive that.
RESULT_FILE_LIFETIME_SECONDS = 600
INTRODUCTION = """# FaceBlur
Drop a photo: FaceBlur finds the faces and blurs, pixelates or masks them.
**Detect** only lists and draws the faces; **Blur** also returns the anonymized photo.
Faces are found by {backend}. **Recognition** blurs everyone but the people you enroll; **Video** anonymizes a
video."""

ResultRow = tuple[str | None, Image.Image | None, int | None, dict[str, Any] | None]


class ResultFiles:
    """Anonymized images written to a private temporary folder, so the page serves them byte for byte."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="faceblur-demo-"))

    def write(self, image: bytes, image_format: str) -> str:
        self._forget_old()
        path = self.folder / f"anonymized-{uuid.uuid4().hex[:12]}{FILE_EXTENSIONS.get(image_format, '.png')}"
        path.write_bytes(image)
        return str(path)

    def new_path(self, prefix: str, extension: str) -> Path:
        """A fresh path in the folder for a result written by someone else (a downloaded video)."""
        self._forget_old()
        return self.folder / f"{prefix}-{uuid.uuid4().hex[:12]}{extension}"

    def _forget_old(self) -> None:
        too_old = time.time() - RESULT_FILE_LIFETIME_SECONDS
        for path in self.folder.iterdir():
            if path.stat().st_mtime < too_old:
                path.unlink(missing_ok=True)


def process_photo(backend: Backend, files: ResultFiles, photo: str | None, request: Request) -> ResultRow:
    """One click (or upload): the anonymized image's path, the photo with the faces drawn, the count, the JSON."""
    if not photo:
        return None, None, None, None
    path = Path(photo)
    try:
        data = path.read_bytes()
        outcome = backend.process(data, path.name, request)
        drawn = draw_faces(viewable(data), outcome.faces)
    except DemoError as error:
        raise gr.Error(str(error), title="Cannot process this file") from None
    anonymized = files.write(outcome.image, outcome.image_format) if outcome.image is not None else None
    return anonymized, drawn, outcome.face_count, outcome.details


def build_page(backend: Backend, examples: list[Path]) -> gr.Blocks:
    files = ResultFiles()

    def handle(photo: str | None, *controls: Any) -> ResultRow:
        return process_photo(backend, files, photo, Request.from_controls(*controls))

    with gr.Blocks(title="FaceBlur", analytics_enabled=False, delete_cache=(900, 3600)) as page:
        gr.Markdown(INTRODUCTION.format(backend=backend.description))
        with gr.Tab("Anonymize"):
            with gr.Row():
                with gr.Column(scale=2):
                    photo = gr.File(label="Photo (JPEG, PNG, WebP, BMP, TIFF or GIF)", type="filepath", elem_id="photo")
                    action = gr.Radio([("Blur", "blur"), ("Detect", "detect")], value="blur", label="Action")
                    preset = gr.Dropdown(list(PRESETS), value="balanced", label="Preset", info="how hard to look")
                    threshold = gr.Slider(
                        0, 0.95, value=0, step=0.05, label="Minimum confidence", info="0: the preset's default"
                    )
                    with gr.Accordion("Anonymization", open=True):
                        mode = gr.Radio(list(MODES), value="blur", label="Mode")
                        mask = gr.Radio(list(MASKS), value="ellipse", label="Shape")
                        box_scale = gr.Slider(
                            1.0, 2.0, value=DEFAULT_BOX_SCALE, step=0.05, label="Box scale",
                            info="grow each face box by this factor before hiding it",
                        )  # fmt: skip
                    plates = gr.Checkbox(
                        False, label="Licence plates", info="also find plates, and hide them like the faces"
                    )
                    run = gr.Button("Run", variant="primary")
                with gr.Column(scale=3):
                    anonymized = gr.Image(label="Anonymized", type="filepath", interactive=False, elem_id="anonymized")
                    detected = gr.Image(
                        label="Detected faces (boxes and landmarks; the main face in orange)",
                        format="jpeg",
                        interactive=False,
                        elem_id="detected",
                    )
                    face_count = gr.Number(label="Faces found", precision=0, interactive=False, elem_id="face-count")
                    details = gr.JSON(label="Result (JSON)", elem_id="details")
            if examples:
                gr.Examples([[str(path)] for path in examples], inputs=[photo], label="Examples")

        inputs = [photo, action, preset, threshold, mode, mask, box_scale, plates]
        outputs = [anonymized, detected, face_count, details]
        run.click(handle, inputs, outputs, api_name="process")
        photo.change(handle, inputs, outputs, api_visibility="private")
        with gr.Tab("Recognition"):
            recognition_tab(backend, files)
        with gr.Tab("Video"):
            video_tab(backend, files)
    return page
