"""The task API end to end: real gateway, Redis, face service and model, over HTTP."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime

import cv2
import httpx
import numpy as np

from tests.gateway.helpers import decode_image, iou, reference_jpeg, submit, wait_for
from tests.stack import REFERENCE_DETECTIONS, REFERENCE_IMAGE, Stack

LANDMARKS = {"left_eye", "right_eye", "nose", "mouth_left", "mouth_right"}


def wait_for_success(api: httpx.Client, task_id: str) -> dict:
    """The finished task, which must have succeeded."""
    body = wait_for(api, task_id)
    assert body["status"] == "SUCCESS", body
    return body


def test_detect_faces_finds_the_two_reference_faces(api: httpx.Client) -> None:
    task_id = submit(api, "detect_faces", reference_jpeg())
    body = wait_for_success(api, task_id)

    assert body["task_id"] == task_id and body["kind"] == "detect"
    faces = body["result"]
    assert list(faces) == ["face_1", "face_2"]
    expected = [face["facial_area"] for face in json.loads(REFERENCE_DETECTIONS.read_text())["result"].values()]
    for box in expected:
        best = max(iou(box, face["facial_area"]) for face in faces.values())
        assert best >= 0.9, f"expected box {box} found with IoU {best:.2f} only: {faces}"
    for face in faces.values():
        assert all(isinstance(value, int) for value in face["facial_area"])
        assert 0.0 < face["confidence"] <= 1.0
        assert set(face["landmarks"]) == LANDMARKS
    assert body["face_count"] == 2
    assert (body["image_width"], body["image_height"]) == (1634, 1000)
    assert body["model"]


def test_blur_faces_returns_the_same_size_image_with_the_faces_changed(api: httpx.Client) -> None:
    body = wait_for_success(api, submit(api, "blur_faces", reference_jpeg()))

    blurred = decode_image(body["result"])
    original = cv2.imread(str(REFERENCE_IMAGE))
    assert blurred.shape == original.shape
    assert len(body["faces"]) == 2 and body["face_count"] == 2
    for face in body["faces"].values():
        x1, y1, x2, y2 = face["facial_area"]
        change = np.abs(blurred[y1:y2, x1:x2].astype(int) - original[y1:y2, x1:x2].astype(int)).mean()
        assert change > 5, f"face {face['facial_area']} looks untouched (mean change {change:.1f})"


def test_options_reach_the_face_service(api: httpx.Client) -> None:
    strict = wait_for_success(api, submit(api, "detect_faces", reference_jpeg(), threshold=0.99, preset="fast"))
    assert strict["result"] == {} and strict["face_count"] == 0
    assert strict["preset"] == "fast"
    assert strict["options"] == {"threshold": 0.99, "preset": "fast"}

    drawn = wait_for_success(api, submit(api, "detect_faces", reference_jpeg(), draw=True))
    assert drawn["options"] == {"draw": True}

    solid = wait_for_success(api, submit(api, "blur_faces", reference_jpeg(), mode="solid", mask="box", box_scale=1.2))
    assert solid["options"] == {"mode": "solid", "mask": "box", "box_scale": 1.2}


def test_detect_with_draw_returns_the_photo_with_each_face_outlined(api: httpx.Client) -> None:
    plain = wait_for(api, submit(api, "detect_faces", reference_jpeg()))
    drawn = wait_for(api, submit(api, "detect_faces", reference_jpeg(), draw=True))

    assert "drawn_image" not in plain
    assert drawn["status"] == "SUCCESS", drawn
    assert base64.b64decode(drawn["drawn_image"]).startswith(b"\xff\xd8\xff"), "drawn_image is not a JPEG"
    annotated = decode_image(drawn["drawn_image"])
    original = cv2.imread(str(REFERENCE_IMAGE))
    assert annotated.shape == original.shape
    assert drawn["result"] == plain["result"], "drawing changes what is returned about the faces"
    for face in drawn["result"].values():
        x1, y1, x2, y2 = face["facial_area"]
        edge_change = np.abs(annotated[y1:y2, x1 - 2 : x1 + 3].astype(int) - original[y1:y2, x1 - 2 : x1 + 3]).mean()
        inside_change = np.abs(
            annotated[y1 + 40 : y2 - 40, x1 + 40 : x2 - 40].astype(int) - original[y1 + 40 : y2 - 40, x1 + 40 : x2 - 40]
        ).mean()
        assert edge_change > 20 > inside_change, (
            f"{face['facial_area']}: box edge change {edge_change:.1f}, inside {inside_change:.1f}"
        )


def test_a_task_goes_from_pending_or_running_to_success(api: httpx.Client) -> None:
    task_ids = [submit(api, "detect_faces", reference_jpeg()) for _ in range(4)]
    seen: dict[str, list[str]] = {task_id: [] for task_id in task_ids}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(s and s[-1] == "SUCCESS" for s in seen.values()):
        for task_id, history in seen.items():
            status = api.get(f"/task_result/{task_id}").json()["status"]
            if not history or history[-1] != status:
                history.append(status)

    order = ["PENDING", "RUNNING", "SUCCESS"]
    for task_id, history in seen.items():
        assert history[-1] == "SUCCESS", f"{task_id}: {history}"
        assert history == sorted(history, key=order.index), f"{task_id} went backwards: {history}"
    assert any(len(history) > 1 for history in seen.values()), f"no task was seen before it finished: {seen}"


def test_a_finished_task_records_its_timeline(api: httpx.Client) -> None:
    before = time.time()
    body = wait_for(api, submit(api, "detect_faces", reference_jpeg()))
    created, started, finished = (
        datetime.fromisoformat(body[name]).timestamp() for name in ("created_at", "started_at", "finished_at")
    )
    assert before - 1 <= created <= started <= finished <= time.time() + 1
    assert body["attempts"] == 1


def test_waiting_for_a_result_returns_as_soon_as_the_task_finishes(api: httpx.Client) -> None:
    task_id = submit(api, "detect_faces", reference_jpeg())
    response = api.get(f"/task_result/{task_id}", params={"wait": 20})
    answered = time.time()

    body = response.json()
    assert body["status"] == "SUCCESS", body
    finished = datetime.fromisoformat(body["finished_at"]).timestamp()
    assert answered - finished < 0.05, f"answered {answered - finished:.3f} s after the task finished"


def test_a_corrupt_image_that_looks_like_a_jpeg_fails_with_the_reason(api: httpx.Client) -> None:
    garbage = b"\xff\xd8\xff\xe0" + np.random.default_rng(7).bytes(5000)
    body = wait_for(api, submit(api, "detect_faces", garbage))

    assert body["status"] == "FAILURE", body
    assert "INVALID_ARGUMENT" in body["error"] and len(body["error"]) > 20, body["error"]
    assert "result" not in body


def test_an_unknown_task_is_404_with_a_reason(api: httpx.Client) -> None:
    response = api.get("/task_result/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "no task" in response.json()["detail"]
    assert api.get("/task_result/nope", params={"wait": 1}).status_code == 404


def test_health_readiness_and_docs(api: httpx.Client, stack: Stack) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["face_services"] == {stack.face.address: "SERVING"}
    assert ready.json()["media_store"] == "ok"
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    assert {"/detect_faces", "/blur_faces", "/task_result/{task_id}", "/healthz", "/readyz"} <= set(paths)
