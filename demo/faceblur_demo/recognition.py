"""The Recognition tab: enroll the people who may stay visible, then blur a photo sparing them (or hiding only
them). It needs the gateway backend: the gateway keeps the galleries; in process, the tab says so."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from faceblur_demo.backends import RECOGNITION_NEEDS_GATEWAY, Backend
from faceblur_demo.options import DemoError

if TYPE_CHECKING:
    from faceblur_demo.ui import ResultFiles

INTRODUCTION = """**1.** Enroll each person who agreed to be shown: a name and a photo of them (its main face is
enrolled: large, near the middle and clearly a face; a group photo where no face stands out is refused; the
"Detected faces" image of the Anonymize tab marks a photo's main face in orange). **2.** Drop a photo: everyone
else's face is blurred, or, if you choose, only the enrolled people's. The gallery is made for this page; anyone
who knows its name can use it."""
HIDE_CHOICES = [("Everyone but the enrolled people", "spare"), ("Only the enrolled people", "only")]


def enroll_person(backend: Backend, gallery: str, name: str, photo: str | None) -> dict[str, Any]:
    """The enrolled face (face_id, facial_area...) and everyone the gallery holds now."""
    gallery, name = gallery.strip(), name.strip()
    if not (gallery and name and photo):
        raise gr.Error("Give the gallery, the person's name and a photo of them.", title="Cannot enroll")
    path = Path(photo)
    try:
        return backend.enroll(gallery, name, path.read_bytes(), path.name)
    except DemoError as error:
        raise gr.Error(str(error), title="Cannot enroll") from None


def blur_by_gallery(
    backend: Backend, files: ResultFiles, gallery: str, photo: str | None, hide: str
) -> tuple[str | None, dict[str, Any] | None]:
    """The anonymized photo and its faces, each with "anonymized" and "subject" (who it matched, or null)."""
    if not photo:
        return None, None
    path = Path(photo)
    try:
        outcome = backend.blur_by_gallery(path.read_bytes(), path.name, gallery.strip(), spare=hide != "only")
    except DemoError as error:
        raise gr.Error(str(error), title="Cannot process this file") from None
    anonymized = files.write(outcome.image, outcome.image_format) if outcome.image is not None else None
    return anonymized, outcome.faces


def recognition_tab(backend: Backend, files: ResultFiles) -> None:
    """The tab's contents (inside a gr.Tab)."""
    if not backend.recognizes:
        gr.Markdown(RECOGNITION_NEEDS_GATEWAY, elem_id="recognition-unavailable")
        return
    gr.Markdown(INTRODUCTION)
    gallery = gr.Textbox(
        value=lambda: f"demo-{uuid.uuid4().hex[:8]}", label="Gallery", info="a new one each time the page loads"
    )
    with gr.Row():
        with gr.Column(scale=2):
            name = gr.Textbox(label="Name", placeholder="Ada Lovelace")
            face = gr.File(label="Photo of the person", type="filepath", elem_id="enroll-photo")
            enroll = gr.Button("Enroll")
            enrolled = gr.JSON(label="Enrolled", elem_id="enrolled")
        with gr.Column(scale=3):
            photo = gr.File(label="Photo to anonymize", type="filepath", elem_id="spare-photo")
            hide = gr.Radio(HIDE_CHOICES, value="spare", label="Hide")
            run = gr.Button("Blur", variant="primary")
            anonymized = gr.Image(label="Anonymized", type="filepath", interactive=False, elem_id="spared")
            faces = gr.JSON(label="Faces (anonymized, subject)", elem_id="spared-faces")
    enroll.click(lambda *inputs: enroll_person(backend, *inputs), [gallery, name, face], enrolled, api_name="enroll")
    run.click(
        lambda *inputs: blur_by_gallery(backend, files, *inputs),
        [gallery, photo, hide],
        [anonymized, faces],
        api_name="blur_by_gallery",
    )
