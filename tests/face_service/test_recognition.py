"""Face recognition over real gRPC: embed jobs, and blur jobs told which faces to hide."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import grpc
import numpy as np
import pytest

from face_detection_service.client import FaceServiceClient
from face_detection_service.recognition.embedder import SFACE_FILE
from faceblur_proto.v1 import face_detection_pb2 as pb
from tests.stack import REPO_ROOT, SHARED

from .faces import best_iou_per_reference, decode

pytestmark = pytest.mark.timeout(180)

LFW_IMAGES = SHARED / "data" / "lfw_dev" / "images"
# From lfw_dev/pairs.txt (fold 1): the same person twice, and two different people.
SAME_PERSON = [("Abel_Pacheco", 1, "Abel_Pacheco", 4), ("Akhmed_Zakayev", 1, "Akhmed_Zakayev", 3)]
DIFFERENT_PEOPLE = [("Abdel_Madi_Shabneh", 1, "Dean_Barker", 1), ("Abdel_Madi_Shabneh", 1, "Giancarlo_Fisichella", 1)]


def lfw_photo(name: str, number: int) -> bytes:
    return (LFW_IMAGES / name / f"{name}_{number:04d}.jpg").read_bytes()


def embedding(face: pb.Face) -> np.ndarray:
    return np.array(face.embedding, np.float32)


def png_crop(jpeg: bytes, box: tuple[int, int, int, int]) -> tuple[np.ndarray, bytes]:
    x1, y1, x2, y2 = box
    pixels = decode(jpeg)[y1:y2, x1:x2]
    return pixels, cv2.imencode(".png", pixels)[1].tobytes()


def test_an_embed_job_gives_each_reference_face_a_unit_embedding(client: FaceServiceClient, reference_jpeg):
    answer = client.embed(reference_jpeg)

    assert answer.error is None
    result = answer.result
    assert len(result.faces) == 2
    assert min(best_iou_per_reference([[f.x1, f.y1, f.x2, f.y2] for f in result.faces])) >= 0.9
    assert result.embedding_model == SFACE_FILE
    assert result.timings.embed_ms > 0
    vectors = [embedding(face) for face in result.faces]
    for vector in vectors:
        assert vector.shape == (128,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    assert float(vectors[0] @ vectors[1]) < 0.5, "two different people"

    detected = client.detect(reference_jpeg).result
    assert detected.embedding_model == "" and all(len(face.embedding) == 0 for face in detected.faces)


def test_two_photos_of_one_person_are_closer_than_photos_of_two_people(client: FaceServiceClient):
    pairs = SAME_PERSON + DIFFERENT_PEOPLE
    photos = sorted({(name, number) for a, b, c, d in pairs for name, number in ((a, b), (c, d))})
    answers = client.run_jobs([(lfw_photo(*photo), pb.JobOptions(kind=pb.JOB_KIND_EMBED)) for photo in photos])
    vectors = {}
    for photo, answer in zip(photos, answers, strict=True):
        centre = min(answer.result.faces, key=lambda f: abs(f.x1 + f.x2 - 250) + abs(f.y1 + f.y2 - 250))
        vectors[photo] = embedding(centre)

    def similarity(pair: tuple[str, int, str, int]) -> float:
        return float(vectors[pair[:2]] @ vectors[pair[2:]])

    same, different = [similarity(p) for p in SAME_PERSON], [similarity(p) for p in DIFFERENT_PEOPLE]
    assert min(same) > max(different) + 0.1, (same, different)


def test_a_blur_job_given_faces_hides_exactly_those_and_returns_them(client: FaceServiceClient, reference_jpeg):
    original, png = png_crop(reference_jpeg, (0, 0, 800, 600))
    given = [pb.Face(x1=100, y1=120, x2=220, y2=260, confidence=0.5), pb.Face(x1=500.5, y1=50, x2=600, y2=130)]

    solid_boxes = {"mode": pb.ANONYMIZATION_MODE_SOLID, "mask_shape": pb.MASK_SHAPE_BOX, "box_scale": 1.0}
    answer = client.blur(png, faces=given, faces_given=True, **solid_boxes)

    assert answer.error is None and answer.result.image_format == "png"
    assert [(f.x1, f.y1, f.x2, f.y2, f.confidence) for f in answer.result.faces] == [
        (f.x1, f.y1, f.x2, f.y2, f.confidence) for f in given
    ]
    hidden = decode(answer.image)
    inside = np.zeros(original.shape[:2], bool)
    inside[120:260, 100:220] = inside[50:130, 500:600] = True
    np.testing.assert_array_equal(hidden[~inside], original[~inside])
    assert (hidden[inside] == 0).all() and original[inside].mean() > 20


def test_a_blur_job_given_no_faces_returns_the_image_unchanged(client: FaceServiceClient, reference_jpeg):
    original, png = png_crop(reference_jpeg, (0, 0, 800, 600))

    answer = client.blur(png, faces_given=True)

    assert answer.error is None and len(answer.result.faces) == 0
    np.testing.assert_array_equal(decode(answer.image), original)


def test_given_faces_are_refused_outside_blur_jobs_and_when_malformed(client: FaceServiceClient, reference_jpeg):
    face = pb.Face(x1=10, y1=10, x2=50, y2=50)
    on_detect = client.detect(reference_jpeg, faces=[face], faces_given=True)
    inverted = client.blur(reference_jpeg, faces=[pb.Face(x1=50, y1=10, x2=10, y2=50)], faces_given=True)

    assert on_detect.error_code is grpc.StatusCode.INVALID_ARGUMENT and "blur jobs only" in on_detect.error.message
    assert inverted.error_code is grpc.StatusCode.INVALID_ARGUMENT and "faces[0]" in inverted.error.message


@pytest.mark.parametrize("model", ["missing.onnx", "not_a_model.onnx"])
def test_a_bad_embedding_model_stops_the_service_naming_the_setting(tmp_path, model):
    (tmp_path / "not_a_model.onnx").write_text("no model here")
    env = {**os.environ, "FACE_EMBEDDING_MODEL": str(tmp_path / model), "FACE_WORKERS": "1"}
    command = [sys.executable, "-m", "face_detection_service"]
    started = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert started.returncode != 0
    assert f"FACE_EMBEDDING_MODEL={tmp_path / model}" in started.stderr, started.stderr
