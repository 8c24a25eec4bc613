"""Metrics and logs an operator relies on: Prometheus on the gateway and the face service, JSON log lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.gateway.helpers import face_service_with_metrics, small_jpeg, submit, wait_for
from tests.stack import Gateway, RedisServer


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_both_services_export_metrics_and_json_logs_name_the_task(
    work_dir: Path, redis_server: RedisServer, make_gateway: Callable[..., Gateway]
) -> None:
    face, face_metrics_url = face_service_with_metrics(work_dir, FACE_LOG_FORMAT="json")
    try:
        gateway = make_gateway(
            redis_server.url, [face.address], GATEWAY_KEY_PREFIX="observability", GATEWAY_LOG_FORMAT="json"
        )
        with gateway.client() as api:
            task_id = submit(api, "detect_faces", small_jpeg())
            assert wait_for(api, task_id)["status"] == "SUCCESS"
            response = api.get("/metrics")
        gateway_metrics = samples(response.text)
        face_metrics = samples(httpx.get(face_metrics_url, timeout=5).text)
        face_log = face.log_tail(400)
    finally:
        face.stop()

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert value(gateway_metrics, "faceblur_gateway_tasks_submitted_total", kind="detect") == 1
    assert value(gateway_metrics, "faceblur_gateway_tasks_finished_total", kind="detect", status="SUCCESS") == 1
    for stage in ("queue_wait", "face_service", "total"):
        assert value(gateway_metrics, "faceblur_gateway_stage_seconds_count", stage=stage) == 1, stage
    for stage in ("decode", "inference"):
        assert value(gateway_metrics, "faceblur_gateway_face_stage_seconds_count", stage=stage) == 1, stage
    assert value(gateway_metrics, "faceblur_gateway_queue_entries") == 0, "finished jobs leave the stream"
    assert ("faceblur_gateway_queue_waiting", frozenset()) in gateway_metrics

    assert value(face_metrics, "faceblur_face_jobs_total", kind="detect", outcome="success") == 1
    assert value(face_metrics, "faceblur_face_stage_seconds_count", stage="inference") == 1

    gateway_lines = [json.loads(line) for line in gateway.log_tail(400).splitlines() if line.startswith("{")]
    assert any(line.get("task_id") == task_id and line["message"] == "task done" for line in gateway_lines)
    face_lines = [json.loads(line) for line in face_log.splitlines() if line.startswith("{")]
    job_lines = [line for line in face_lines if line.get("job_id", "").startswith(task_id)]
    assert job_lines, f"no face service line names a job of task {task_id}:\n{face_log}"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in face_lines)
