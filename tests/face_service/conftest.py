"""Fixtures: a real face-service process (real model, real gRPC) shared by the tests in this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from face_detection_service.client import FaceServiceClient

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
