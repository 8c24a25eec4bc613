"""Licence plates through the real stack (issue 25): plates=true on /detect_faces, /blur_faces and /blur_video, with
the real plate model, on a real plates_dev photo (a car with a UK plate) set beside the reference photo's faces."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from tests.gateway.helpers import blur_video, decode_image, download_video, iou, submit, wait_for
from tests.stack import REFERENCE_IMAGE, SHARED, FaceService, Gateway, RedisServer, Stack
from tests.videos import decoded_frames, write_h264

pytestmark = pytest.mark.timeout(300)

PLATES_DEV = SHARED / "data" / "plates_dev"
CAR = "eu/eu5.jpg"  # a car seen from behind, its plate annotated at [229, 474, 412, 516] in a 1200 x 767 photo


def annotated_plate(name: str = CAR) -> list[float]:
    (box,) = json.loads((PLATES_DEV / "gt.json").read_text())[name]["boxes"]
    return [float(value) for value in box]


@pytest.fixture(scope="module")
def car_and_faces() -> bytes:
    """The car photo (left, as it is: the annotated plate keeps its pixels) and the reference photo's two faces
    (right, scaled to the same height), one JPEG."""
    car = cv2.imread(str(PLATES_DEV / "images" / CAR))
    people = cv2.imread(str(REFERENCE_IMAGE))
    height = car.shape[0]
    people = cv2.resize(
        people, (round(people.shape[1] * height / people.shape[0]), height), interpolation=cv2.INTER_AREA
    )
    ok, encoded = cv2.imencode(".jpg", np.hstack([car, people]), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return encoded.tobytes()


def with_and_without_plates(stack: Stack, endpoint: str, image: bytes) -> dict[bool, dict]:
    """The image through ``endpoint`` with plates=true (True) and without the option (False), once each."""
    with stack.gateway.client() as api:
        with_plates = submit(api, endpoint, image, plates=True)
        without = submit(api, endpoint, image)
        return {True: wait_for(api, with_plates, 120), False: wait_for(api, without, 120)}


@pytest.fixture(scope="module")
def detected(stack: Stack, car_and_faces: bytes) -> dict[bool, dict]:
    return with_and_without_plates(stack, "detect_faces", car_and_faces)


@pytest.fixture(scope="module")
def blurred(stack: Stack, car_and_faces: bytes) -> dict[bool, dict]:
    return with_and_without_plates(stack, "blur_faces", car_and_faces)


def test_detect_with_plates_lists_the_plate_beside_the_same_faces(detected: dict[bool, dict]) -> None:
    with_plates, without = detected[True], detected[False]
    assert with_plates["status"] == "SUCCESS", with_plates
    assert with_plates["options"]["plates"] is True
    assert with_plates["result"] == without["result"] and len(without["result"]) == 2  # the faces, as before
    plates = with_plates["plates"]
    assert list(plates) == [f"plate_{n}" for n in range(1, len(plates) + 1)] == [*plates][: with_plates["plate_count"]]
    plate = plates["plate_1"]
    assert set(plate) == {"plate_area", "confidence"} and 0 < plate["confidence"] <= 1
    assert iou(plate["plate_area"], annotated_plate()) >= 0.5, plates
    assert with_plates["plate_model"].startswith("platedet-int8-640")
    assert "plates" in with_plates["timings_ms"]


def test_without_plates_the_result_has_no_plate_field(detected: dict[bool, dict]) -> None:
    without = detected[False]
    assert without["status"] == "SUCCESS"
    assert not {"plates", "plate_count", "plate_model"} & set(without)
    assert "plates" not in without["options"] and "plates" not in without["timings_ms"]


def test_a_plate_threshold_above_every_plate_finds_none(api: httpx.Client, car_and_faces: bytes) -> None:
    body = wait_for(api, submit(api, "detect_faces", car_and_faces, plates=True, plate_threshold=1.0), 120)
    assert body["status"] == "SUCCESS", body
    assert body["plates"] == {} and body["plate_count"] == 0 and body["options"]["plate_threshold"] == 1.0


def test_the_drawn_image_shows_the_plate_box(api: httpx.Client, car_and_faces: bytes) -> None:
    with_plates = wait_for(api, submit(api, "detect_faces", car_and_faces, plates=True, draw=True), 120)
    without = wait_for(api, submit(api, "detect_faces", car_and_faces, draw=True), 120)
    drawn, plain = decode_image(with_plates["drawn_image"]), decode_image(without["drawn_image"])
    x1, y1, x2, y2 = with_plates["plates"]["plate_1"]["plate_area"]
    changed = np.abs(drawn.astype(int) - plain.astype(int)).max(axis=2) > 40
    assert changed[y1 - 3 : y1 + 4, x1:x2].mean() > 0.5 and changed[y1:y2, x1 - 3 : x1 + 4].mean() > 0.5
    for plate in with_plates["plates"].values():
        x1, y1, x2, y2 = plate["plate_area"]
        changed[max(0, y1 - 16) : y2 + 80, max(0, x1 - 16) : x2 + 100] = False  # the box, its score below
    assert changed.mean() < 1e-4, "only the plates' boxes and scores are drawn beyond the faces"


def test_blur_with_plates_hides_the_whole_plate_and_leaves_the_rest_as_without(blurred: dict[bool, dict]) -> None:
    with_plates, without = blurred[True], blurred[False]
    assert with_plates["status"] == "SUCCESS", with_plates
    assert with_plates["faces"] == without["faces"] and len(without["faces"]) == 2
    hidden, plain = decode_image(with_plates["result"]), decode_image(without["result"])
    x1, y1, x2, y2 = (round(value) for value in annotated_plate())
    plate, before = hidden[y1:y2, x1:x2].astype(int), plain[y1:y2, x1:x2].astype(int)
    assert (np.abs(plate - before).max(axis=2) > 0).mean() > 0.9, "the plate's pixels changed"
    assert _detail(plate) < 0.3 * _detail(before), "the plate's detail is gone"
    assert iou(with_plates["plates"]["plate_1"]["plate_area"], annotated_plate()) >= 0.5
    # Outside the padded plate box the two images are the same (JPEG blocks at its edge aside).
    px1, py1, px2, py2 = with_plates["plates"]["plate_1"]["plate_area"]
    margin = round(0.4 * (py2 - py1)) + 16  # PLATE_PADDING, and JPEG blocks
    same = np.abs(hidden.astype(int) - plain.astype(int)).max(axis=2) <= 2
    same[max(0, py1 - margin) : py2 + margin, max(0, px1 - margin) : px2 + margin] = True
    assert same.mean() > 0.999


@pytest.mark.parametrize(
    ("endpoint", "field", "value"),
    [
        ("detect_faces", "plates", "sometimes"),
        ("blur_faces", "plates", "2"),
        ("detect_faces", "plate_threshold", "1.5"),
        ("blur_faces", "plate_threshold", "-0.1"),
        ("blur_faces", "plate_threshold", "high"),
    ],
)
def test_bad_plate_options_are_422_naming_the_field(
    api: httpx.Client, car_and_faces: bytes, endpoint: str, field: str, value: str
) -> None:
    response = api.post(f"/{endpoint}", files={"file": ("car.jpg", car_and_faces)}, data={field: value})
    assert response.status_code == 422, response.text
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


@pytest.mark.parametrize(("field", "value"), [("plates", "perhaps"), ("plate_threshold", "7")])
def test_bad_plate_options_of_a_video_are_422_naming_the_field(
    api: httpx.Client, plate_clip: Path, field: str, value: str
) -> None:
    response = api.post("/blur_video", files={"file": ("car.mp4", plate_clip.read_bytes())}, data={field: value})
    assert response.status_code == 422, response.text
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


# --- video -----------------------------------------------------------------------------------------------------

CLIP_FPS, CLIP_FRAMES, CLIP_SIZE, CLIP_SCALE, CLIP_TOP, CLIP_PAN = 25, 50, (640, 360), 0.75, 200, 150


def clip_shift(frame: int) -> int:
    """How far right of the scaled car photo's left edge the clip's window is in ``frame``."""
    return round(CLIP_PAN * frame / (CLIP_FRAMES - 1))


def clip_plate(frame: int) -> list[float]:
    """The annotated plate's box in a frame of the clip (the window pans right: the plate moves left)."""
    x1, y1, x2, y2 = (value * CLIP_SCALE for value in annotated_plate())
    shift = clip_shift(frame)
    return [x1 - shift, y1 - CLIP_TOP, x2 - shift, y2 - CLIP_TOP]


@pytest.fixture(scope="module")
def plate_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds panning across the car photo (scaled by 0.75): the plate in view, moving, in every frame."""
    car = cv2.cvtColor(cv2.imread(str(PLATES_DEV / "images" / CAR)), cv2.COLOR_BGR2RGB)
    car = cv2.resize(car, None, fx=CLIP_SCALE, fy=CLIP_SCALE, interpolation=cv2.INTER_AREA)
    width, height = CLIP_SIZE
    shifts = map(clip_shift, range(CLIP_FRAMES))
    windows = (np.ascontiguousarray(car[CLIP_TOP : CLIP_TOP + height, shift : shift + width]) for shift in shifts)
    path = tmp_path_factory.mktemp("plates") / "car.mp4"
    return write_h264(path, windows, CLIP_FPS, CLIP_SIZE, {"crf": "20", "preset": "ultrafast", "g": "12"})


@pytest.fixture(scope="module")
def plate_video(stack: Stack, plate_clip: Path) -> dict:
    with stack.gateway.client() as api:
        return blur_video(api, plate_clip, plates=True)


def test_a_plate_is_tracked_through_a_video_in_one_track_listed_in_every_frame(
    api: httpx.Client, plate_video: dict
) -> None:
    assert plate_video["status"] == "SUCCESS", plate_video
    result = plate_video["result"]
    assert result["plate_tracks"] == 1 and result["plate_model"].startswith("platedet-int8-640")
    assert plate_video["options"]["plates"] is True
    lines = [json.loads(line) for line in api.get(result["faces_url"]).text.splitlines()]
    assert len(lines) == CLIP_FRAMES
    for frame, line in enumerate(lines):
        assert list(line) == ["frame", "time_s", "faces", "plates"] and line["frame"] == frame
        (plate,) = line["plates"]
        assert plate["track_id"] == 0 and set(plate) == {"track_id", "plate_area", "confidence", "detected"}
        assert iou(plate["plate_area"], clip_plate(frame)) >= 0.4, (frame, plate)
    # The plate detector ran on every 12th frame (GATEWAY_VIDEO_PLATE_DETECT_EVERY), the tracker carried it between.
    assert result["plate_detect_every"] == 12
    detected = [frame for frame, line in enumerate(lines) if line["plates"][0]["detected"]]
    assert detected == [0, 12, 24, 36, 48]


def test_every_frame_of_the_video_has_its_plate_hidden(
    api: httpx.Client, plate_video: dict, plate_clip: Path, tmp_path: Path
) -> None:
    output = download_video(api, plate_video, tmp_path / "out.mp4")
    before, after = decoded_frames(plate_clip), decoded_frames(output)
    assert len(before) == len(after) == CLIP_FRAMES
    for frame, (original, hidden) in enumerate(zip(before, after, strict=True)):
        x1, y1, x2, y2 = (round(value) for value in clip_plate(frame))
        assert _detail(hidden[y1:y2, x1:x2]) < 0.3 * _detail(original[y1:y2, x1:x2]), f"frame {frame}"


def test_a_video_without_plates_has_no_plates_in_its_faces_file(api: httpx.Client, plate_clip: Path) -> None:
    body = blur_video(api, plate_clip)
    assert body["status"] == "SUCCESS", body
    assert not {"plate_tracks", "plate_model"} & set(body["result"])
    lines = [json.loads(line) for line in api.get(body["result"]["faces_url"]).text.splitlines()]
    assert all(list(line) == ["frame", "time_s", "faces"] for line in lines)


def _detail(pixels: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image: what blurring or pixelating removes."""
    grey = cv2.cvtColor(pixels.astype(np.uint8), cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    return float(np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F)).mean())


def test_behind_a_face_service_without_plates_a_plate_task_fails_naming_the_setting_and_faces_still_work(
    work_dir: Path, redis_server: RedisServer, make_gateway: Callable[..., Gateway], car_and_faces: bytes
) -> None:
    face = FaceService(work_dir, FACE_PLATES="false", FACE_WORKERS="1").start()
    try:
        # Its own key prefix: the session's gateway on the same Redis must not take these tasks.
        gateway = make_gateway(redis_server.url, [face.address], GATEWAY_KEY_PREFIX="noplates")
        with gateway.client() as api:
            refused = wait_for(api, submit(api, "blur_faces", car_and_faces, plates=True), 120)
            served = wait_for(api, submit(api, "blur_faces", car_and_faces), 120)
    finally:
        face.stop()
    assert refused["status"] == "FAILURE" and "FACE_PLATES=false" in refused["error"], refused
    assert served["status"] == "SUCCESS" and len(served["faces"]) == 2
