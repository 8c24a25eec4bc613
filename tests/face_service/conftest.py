"""Fixtures: a real face-service process (real model, real gRPC) shared by the tests in this folder, and the
same model loaded in process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from face_detection_service.client import FaceServiceClient
from face_detection_service.detection.detector import FaceDetector
from face_detection_service.detection.loader import load_detector
from tests.stack import FACE_MODEL

from .support import REFERENCE_IMAGE, FaceServiceProcess


@pytest.fixture(scope="session")
def face_service() -> Iterator[FaceServiceProcess]:
    service = FaceServiceProcess(FACE_MAX_PIXELS="40000000", FACE_MAX_IMAGE_BYTES=str(12 * 2**20))
    yield service
    service.terminate()


@pytest.fixture()
def client(face_service: FaceServiceProcess) -> Iterator[FaceServiceClient]:
    with FaceServiceClient(face_service.address) as face_client:
        yield face_client


@pytest.fixture(scope="session")
def reference_jpeg() -> bytes:
    return REFERENCE_IMAGE.read_bytes()


@pytest.fixture(scope="module")
def face_detector() -> FaceDetector:
    """YOLOv8n-face (FACE_MODEL, else ../shared's) in process, on two threads."""
    return load_detector(FACE_MODEL, threads=2)
