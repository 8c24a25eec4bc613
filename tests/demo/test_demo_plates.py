"""The demo's licence-plate checkbox (issue 25), through its Gradio API and a live gateway."""

from __future__ import annotations

import pytest

from tests.stack import SHARED

gradio_client = pytest.importorskip("gradio_client", reason="pip install -r requirements/demo.txt")

CAR = SHARED / "data" / "plates_dev" / "images" / "eu" / "eu5.jpg"


@pytest.mark.parametrize("plates", [True, False])
def test_the_plates_checkbox_lists_and_hides_the_plates(page: gradio_client.Client, plates: bool) -> None:
    anonymized, _, _, details = page.predict(
        gradio_client.handle_file(str(CAR)), "blur", "balanced", 0, "blur", "ellipse", 1.4, plates,
        api_name="/process",
    )  # fmt: skip

    assert anonymized is not None
    if plates:
        assert details["options"]["plates"] is True and details["plate_count"] >= 1 and "plate_1" in details["plates"]
    else:
        assert "plates" not in details and "plates" not in details["options"]
