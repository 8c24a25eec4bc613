"""The face service over real gRPC: detections, big images, bad input, concurrency, overload, shutdown."""

from __future__ import annotations

import concurrent.futures
import signal
import time

import cv2
import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from face_detection_service.client import FaceServiceClient
from faceblur_proto.v1 import face_detection_pb2 as pb

from .faces import best_iou_per_reference, decode
from .support import FaceServiceProcess

pytestmark = pytest.mark.timeout(180)


def boxes_of(result: pb.JobResult) -> list[list[float]]:
    return [[f.x1, f.y1, f.x2, f.y2] for f in result.faces]


def test_reference_image_gives_exactly_the_two_documented_faces(client: FaceServiceClient, reference_jpeg):
    answer = client.detect(reference_jpeg)

    assert answer.error is None
    assert len(answer.result.faces) == 2
    assert min(best_iou_per_reference(boxes_of(answer.result))) >= 0.9
    for face in answer.result.faces:
        assert len(face.landmarks) == 5
        for point in face.landmarks:
            assert face.x1 <= point.x <= face.x2 and face.y1 <= point.y <= face.y2
        assert 0 < face.confidence <= 1
    assert (answer.result.image_width, answer.result.image_height) == (1634, 1000)
    assert "yolov8n-face" in answer.result.model


def test_every_preset_finds_the_reference_faces(client: FaceServiceClient, reference_jpeg):
    for preset in ("fast", "balanced", "max_recall"):
        answer = client.detect(reference_jpeg, preset=preset)
        assert answer.result.preset == preset
        assert min(best_iou_per_reference(boxes_of(answer.result))) >= 0.8, preset


def test_a_12_megapixel_image_over_4_mib_passes_for_detect_and_blur(client: FaceServiceClient, reference_jpeg):
    upscaled = cv2.resize(decode(reference_jpeg), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).integers(-6, 7, upscaled.shape, dtype=np.int16)
    big = np.clip(upscaled.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    data = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 97])[1].tobytes()
    assert len(data) > 4 * 1024 * 1024

    detected, blurred = client.run_jobs(
        [(data, pb.JobOptions(kind=pb.JOB_KIND_DETECT)), (data, pb.JobOptions(kind=pb.JOB_KIND_BLUR))]
    )

    assert detected.error is None and len(detected.result.faces) == 2
    assert blurred.error is None and len(blurred.result.faces) == 2
    assert blurred.result.image_format == "jpeg"
    assert decode(blurred.image).shape[:2] == (3000, 4000)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "corrupt"),
        (b"", "empty"),
        (b"Dear face service,\nthis is a text file, not a photo.\n", "text"),
    ],
    ids=["corrupt-jpeg", "empty", "text-file"],
)
def test_bad_payloads_get_invalid_argument_naming_the_problem(client, payload, problem):
    answer = client.detect(payload)

    assert answer.error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert problem in answer.error.message


def test_truncated_jpeg_is_refused(client: FaceServiceClient, reference_jpeg):
    answer = client.detect(reference_jpeg[: len(reference_jpeg) // 2])

    assert answer.error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert "truncated or corrupt" in answer.error.message


def test_image_above_the_pixel_limit_is_refused_before_decoding(client: FaceServiceClient):
    # A 10000 x 5000 PNG of one colour: tiny on the wire, 50 megapixels once decoded.
    bomb = cv2.imencode(".png", np.zeros((5000, 10000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
    assert len(bomb) < 200_000

    answer = client.detect(bomb)

    assert answer.error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert "50.0 megapixels" in answer.error.message and "FACE_MAX_PIXELS" in answer.error.message


def test_bad_jobs_do_not_disturb_good_ones_on_the_same_stream(client: FaceServiceClient, reference_jpeg):
    detect = pb.JobOptions(kind=pb.JOB_KIND_DETECT)
    answers = client.run_jobs([(reference_jpeg, detect), (b"not an image", detect), (reference_jpeg, detect)])

    assert [a.error is None for a in answers] == [True, False, True]
    assert len(answers[2].result.faces) == 2


def test_invalid_options_are_refused(client: FaceServiceClient, reference_jpeg):
    assert client.detect(reference_jpeg, preset="slowest").error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert client.detect(reference_jpeg, score_threshold=1.5).error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert client.blur(reference_jpeg, box_scale=10).error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert client.run_jobs([(reference_jpeg, pb.JobOptions())])[0].error_code is grpc.StatusCode.INVALID_ARGUMENT


def test_many_jobs_on_one_stream_and_across_streams(face_service: FaceServiceProcess, reference_jpeg):
    small = cv2.imencode(".jpg", cv2.resize(decode(reference_jpeg), (817, 500)))[1].tobytes()
    detect = pb.JobOptions(kind=pb.JOB_KIND_DETECT, preset="fast")

    def one_stream(_: int) -> list[int]:
        with FaceServiceClient(face_service.address) as client:
            return [len(a.result.faces) for a in client.run_jobs([(small, detect)] * 6)]

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(one_stream, range(4)))

    assert counts == [[2] * 6] * 4


def test_health_checking_and_server_info(client: FaceServiceClient, face_service: FaceServiceProcess):
    health = health_pb2_grpc.HealthStub(client.channel)
    for service in ("", "faceblur.v1.FaceDetection"):
        assert health.Check(health_pb2.HealthCheckRequest(service=service)).status == 1

    info = client.server_info()
    assert "yolov8n-face" in info.model
    assert set(info.presets) == {"fast", "balanced", "max_recall"}
    assert info.max_pixels == 40_000_000


def test_reflection_lists_the_service(client: FaceServiceClient):
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    stub = reflection_pb2_grpc.ServerReflectionStub(client.channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name for r in responses for s in r.list_services_response.service}

    assert "faceblur.v1.FaceDetection" in names


def test_overload_gets_resource_exhausted_instead_of_unbounded_queueing(reference_jpeg):
    service = FaceServiceProcess(FACE_WORKERS="1", FACE_QUEUE_SIZE="1")
    try:
        with FaceServiceClient(service.address) as client:
            answers = client.run_jobs([(reference_jpeg, pb.JobOptions(kind=pb.JOB_KIND_BLUR))] * 8)
        codes = [a.error_code for a in answers]
        assert codes.count(None) >= 2
        assert grpc.StatusCode.RESOURCE_EXHAUSTED in codes
        refused = next(a for a in answers if a.error_code is grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert "FACE_QUEUE_SIZE" in refused.error.message
    finally:
        service.terminate()


def test_sigterm_lets_jobs_in_flight_finish(reference_jpeg):
    service = FaceServiceProcess(FACE_WORKERS="1")
    with FaceServiceClient(service.address) as client, concurrent.futures.ThreadPoolExecutor(1) as pool:
        jobs = [(reference_jpeg, pb.JobOptions(kind=pb.JOB_KIND_BLUR, preset="max_recall"))] * 3
        pending = pool.submit(client.run_jobs, jobs)
        time.sleep(1.0)
        service.process.send_signal(signal.SIGTERM)
        answers = pending.result(timeout=60)

    assert service.terminate() == 0
    assert all(a.error is None for a in answers)
    assert all(len(a.result.faces) == 2 for a in answers)


def test_without_yolo_weights_the_centerface_fallback_serves_and_says_so(reference_jpeg, tmp_path):
    service = FaceServiceProcess(FACE_MODEL=str(tmp_path / "missing.tflite"))
    try:
        with FaceServiceClient(service.address) as client:
            answer = client.detect(reference_jpeg)
            info = client.server_info()
    finally:
        service.terminate()

    assert "centerface" in info.model and "centerface" in answer.result.model
    assert min(best_iou_per_reference(boxes_of(answer.result))) >= 0.7
    assert "using the CenterFace fallback" in service.log()


def test_uploads_over_the_byte_limit_are_refused_and_the_stream_goes_on(client: FaceServiceClient, reference_jpeg):
    oversized = reference_jpeg + bytes(13 * 2**20)
    detect = pb.JobOptions(kind=pb.JOB_KIND_DETECT)

    too_big, fine = client.run_jobs([(oversized, detect), (reference_jpeg, detect)])

    assert too_big.error_code is grpc.StatusCode.INVALID_ARGUMENT
    assert "12.0 MiB" in too_big.error.message and "FACE_MAX_IMAGE_BYTES" in too_big.error.message
    assert len(fine.result.faces) == 2


def test_a_single_message_over_the_message_limit_ends_only_that_stream(client: FaceServiceClient, reference_jpeg):
    request = pb.JobRequest(
        job_id="huge", options=pb.JobOptions(kind=pb.JOB_KIND_DETECT), image_chunk=bytes(9 * 2**20), last=True
    )
    with pytest.raises(grpc.RpcError) as refused:
        list(client.stub.ProcessJobs(iter([request]), timeout=30))

    assert refused.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(client.detect(reference_jpeg).result.faces) == 2
