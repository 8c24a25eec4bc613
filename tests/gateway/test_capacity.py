"""Every face-service worker kept busy: one dispatcher holds as many jobs as the face services run (and a
margin), never more than their bounded queues take; and the gateway runs as several processes when asked.

Real processes. The 16-worker face service runs on any machine (CI has 2 cores): 16 model processes share the
cores, so each job is slower, which only makes the jobs in flight easier to see.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from gateway_service.tasks.keys import RedisKeys
from tests.gateway.helpers import (
    face_service_with_metrics,
    metrics,
    small_jpeg,
    submit,
    wait_for,
    wait_for_all,
    wait_until,
)
from tests.stack import FaceService, Gateway, RedisServer

WORKERS = 16
QUEUE_SIZE = 8  # the face service takes at most 16 + 8 jobs; more would be refused (RESOURCE_EXHAUSTED)


def test_one_dispatcher_keeps_16_face_workers_busy_within_the_services_queue(
    work_dir: Path, redis_server: RedisServer, make_gateway: Callable[..., Gateway], prefix: str
) -> None:
    face, face_url = face_service_with_metrics(work_dir, FACE_WORKERS=str(WORKERS), FACE_QUEUE_SIZE=str(QUEUE_SIZE))
    try:
        gateway = make_gateway(redis_server.url, [face.address], GATEWAY_KEY_PREFIX=prefix)
        gateway_url = f"{gateway.url}/metrics"
        expected_limit = WORKERS + 4  # a quarter more than the workers (capacity.py)
        wait_until(
            lambda: metrics(gateway_url)["faceblur_gateway_dispatcher_in_flight_limit"] == expected_limit,
            15,
            "the dispatcher learns the face service's 16 workers",
        )
        assert metrics(face_url)["faceblur_face_workers"] == WORKERS

        most_in_flight = most_pending = 0.0
        with gateway.client() as api:
            task_ids = [submit(api, "detect_faces", small_jpeg(), preset="fast") for _ in range(32)]
            deadline = time.monotonic() + 120
            while most_in_flight < WORKERS or most_pending < WORKERS:
                most_in_flight = max(most_in_flight, metrics(gateway_url)["faceblur_gateway_dispatcher_in_flight"])
                most_pending = max(most_pending, metrics(face_url)["faceblur_face_pending_jobs"])
                if time.monotonic() > deadline or metrics(gateway_url)["faceblur_gateway_queue_entries"] == 0:
                    break
                time.sleep(0.02)
            results = wait_for_all(api, task_ids, timeout=180)
        face_after = metrics(face_url)
    finally:
        face.stop()

    assert [r["status"] for r in results] == ["SUCCESS"] * len(task_ids), [r.get("error") for r in results]
    assert most_in_flight >= WORKERS, f"the dispatcher held at most {most_in_flight:g} jobs for 16 workers"
    assert most_in_flight <= WORKERS + QUEUE_SIZE
    assert most_pending >= WORKERS, f"the face service had at most {most_pending:g} jobs queued or running"
    refused = face_after.get("faceblur_face_jobs_total{kind=detect,outcome=resource_exhausted}", 0)
    assert refused == 0, "the dispatcher sent more than the face service's queue takes"
    assert face_after["faceblur_face_pending_jobs"] == 0


def test_the_gateway_runs_several_http_and_dispatcher_processes_with_one_metrics_view(
    redis_server: RedisServer, make_gateway: Callable[..., Gateway], work_dir: Path, prefix: str
) -> None:
    face = FaceService(work_dir, FACE_WORKERS="2").start()
    try:
        gateway = make_gateway(
            redis_server.url,
            [face.address],
            GATEWAY_KEY_PREFIX=prefix,
            GATEWAY_HTTP_PROCESSES="2",
            GATEWAY_DISPATCHER_PROCESSES="2",
        )
        with gateway.client() as api:
            wait_until(
                lambda: metrics(f"{gateway.url}/metrics").get("faceblur_gateway_dispatcher_in_flight_limit") == 8,
                15,
                "two dispatchers, each with 2 workers and a margin of 2",
            )
            task_ids = [submit(api, "detect_faces", small_jpeg(), preset="fast") for _ in range(12)]
            results = wait_for_all(api, task_ids)
            # Each HTTP process answers /metrics with every process's counts.
            readings = [metrics(f"{gateway.url}/metrics") for _ in range(6)]
            assert wait_for(api, task_ids[0])["status"] == "SUCCESS"
    finally:
        face.stop()

    assert [r["status"] for r in results] == ["SUCCESS"] * len(task_ids)
    for reading in readings:
        assert reading["faceblur_gateway_tasks_submitted_total{kind=detect}"] == 12
        assert reading["faceblur_gateway_tasks_finished_total{kind=detect,status=SUCCESS}"] == 12
    with redis_server.client() as client:
        dispatchers = {client.hget(RedisKeys(prefix).task(t), "dispatcher") for t in task_ids}
    assert len(dispatchers) == 2, f"one dispatcher process did all the work: {dispatchers}"
