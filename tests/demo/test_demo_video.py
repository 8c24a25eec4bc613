"""The demo's Video tab: a video anonymized through the gateway (gradio_client), and the clear message the
in-process mode gives instead."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from faceblur_demo.backends import VIDEO_NEEDS_GATEWAY, LocalBackend
from faceblur_demo.options import DemoError, Request

from tests.demo.conftest import markdown_shown, shopping_list
from tests.videos import write_clip

gradio_client = pytest.importorskip("gradio_client", reason="pip install -r requirements/demo.txt")


def test_a_video_comes_back_anonymized_as_a_playable_mp4(page: gradio_client.Client, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mov", seconds=1, size=(320, 180))

    video, details = page.predict(
        gradio_client.handle_file(str(clip)), "balanced", 0, "pixelate", "box", 1.2, api_name="/blur_video"
    )

    path = Path(video["video"] if isinstance(video, dict) else video)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in container.decode(video=0)) == 25
    assert details["kind"] == "blur_video" and details["status"] == "SUCCESS"
    assert details["result"]["frames"] == 25 and details["result"]["audio"] is True
    assert details["options"]["mode"] == "pixelate"


def test_a_file_that_is_not_a_video_gets_a_clear_message(page: gradio_client.Client, tmp_path: Path) -> None:
    notes = shopping_list(tmp_path / "notes.mp4")

    with pytest.raises(gradio_client.exceptions.AppError, match=r"notes\.mp4: "):
        page.predict(
            gradio_client.handle_file(str(notes)), "balanced", 0, "blur", "ellipse", 1.4, api_name="/blur_video"
        )


def test_in_process_the_tab_says_videos_need_a_gateway(local_backend: LocalBackend, tmp_path: Path) -> None:
    from faceblur_demo.video import video_tab

    assert markdown_shown(video_tab, local_backend) == [VIDEO_NEEDS_GATEWAY]
    with pytest.raises(DemoError, match="start the demo with"):
        local_backend.blur_video(tmp_path / "clip.mp4", tmp_path / "out.mp4", Request("blur"), lambda done, total: None)
