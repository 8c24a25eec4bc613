"""The Video tab: upload a video, follow its frames as the gateway anonymizes them, play the result (MP4, the
audio kept). It needs the gateway backend; in process, the tab says so."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from faceblur_demo.backends import VIDEO_NEEDS_GATEWAY, Backend
from faceblur_demo.options import DEFAULT_BOX_SCALE, MASKS, MODES, PRESETS, DemoError, Request

if TYPE_CHECKING:
    from faceblur_demo.ui import ResultFiles

INTRODUCTION = """Drop a video (MP4, MOV, MKV, WebM or AVI): every face in every frame is blurred, pixelated or
masked, faces followed from frame to frame; the sound is kept. The bar counts the frames done."""
VIDEO_TYPES = [".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"]


def blur_video(
    backend: Backend, files: ResultFiles, video: str | None, request: Request, progress: gr.Progress | None = None
) -> tuple[str | None, dict[str, Any] | None]:
    """The anonymized MP4's path and the task's result (frames, fps, tracks, audio...)."""
    if not video:
        return None, None
    path = Path(video)
    output = files.new_path("anonymized", ".mp4")

    def frames(done: int, total: int) -> None:
        if progress is not None:
            progress((done, total), desc="Anonymizing", unit="frames")

    try:
        details = backend.blur_video(path, output, request, frames)
    except DemoError as error:
        raise gr.Error(str(error), title="Cannot process this video") from None
    return str(output), details


def video_tab(backend: Backend, files: ResultFiles) -> None:
    """The tab's contents (inside a gr.Tab)."""
    if not backend.blurs_videos:
        gr.Markdown(VIDEO_NEEDS_GATEWAY, elem_id="video-unavailable")
        return
    gr.Markdown(INTRODUCTION)
    with gr.Row():
        with gr.Column(scale=2):
            video = gr.File(label="Video", type="filepath", file_types=VIDEO_TYPES, elem_id="video-input")
            preset = gr.Dropdown(list(PRESETS), value="balanced", label="Preset", info="how hard to look")
            threshold = gr.Slider(
                0, 0.95, value=0, step=0.05, label="Minimum confidence", info="0: the preset's default"
            )
            mode = gr.Radio(list(MODES), value="blur", label="Mode")
            mask = gr.Radio(list(MASKS), value="ellipse", label="Shape")
            box_scale = gr.Slider(1.0, 2.0, value=DEFAULT_BOX_SCALE, step=0.05, label="Box scale")
            plates = gr.Checkbox(False, label="Licence plates", info="also track and hide plates")
            run = gr.Button("Anonymize the video", variant="primary")
        with gr.Column(scale=3):
            anonymized = gr.Video(label="Anonymized", interactive=False, elem_id="video-anonymized")
            details = gr.JSON(label="Result (JSON)", elem_id="video-details")

    def handle(
        video: str | None,
        *controls: Any,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[str | None, dict[str, Any] | None]:
        return blur_video(backend, files, video, Request.from_controls("blur", *controls), progress=progress)

    inputs = [video, preset, threshold, mode, mask, box_scale, plates]
    run.click(handle, inputs, [anonymized, details], api_name="blur_video")
