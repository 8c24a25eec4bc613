"""Face services found by a DNS name, with real processes: FACE_SERVICE_ADDRESSES=dns:///name:port, replicas
joining and leaving the name while tasks run, and no accepted task lost.

Two face services listen on the same port at 127.0.0.1 and 127.0.0.2 (both loopback on Linux), as replicas of one
service do at their own addresses. The name is resolved through the gateway's injectable resolver reading a
file this test rewrites (``dns_names.py``): no root, no /etc/hosts edit, no DNS server.
"""

from __future__ import annotations

import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from processes import ServiceProcess
from tests.conftest import TEST_GATEWAY_ENV
from tests.gateway.dns_names import HostsFile
from tests.gateway.helpers import metrics, small_jpeg, submit, wait_for_all, wait_until
from tests.gateway.test_faults import assert_all_succeeded, assert_nothing_left_behind
from tests.stack import FaceService, Gateway, RedisServer, free_port

NAME = "face-service.test"
FIRST, SECOND = "127.0.0.1", "127.0.0.2"


class NamedGateway(Gateway):
    """The gateway (one process) with its resolver reading ``hosts``."""

    def __init__(self, work_dir: Path, redis_url: str, addresses: list[str], hosts: HostsFile, **env: str) -> None:
        super().__init__(work_dir, redis_url, addresses, GATEWAY_HTTP_PROCESSES="1", **env)
        command = [sys.executable, "-m", "tests.gateway.dns_names", str(hosts.path)]
        self.service = replace(self.service, command=command)


@pytest.fixture()
def face_port() -> int:
    """A port free on both addresses."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind((SECOND, port))
            except OSError:
                continue
        return port


@pytest.fixture()
def services() -> Iterator[list[ServiceProcess]]:
    """What the test starts, stopped after it, newest first."""
    started: list[ServiceProcess] = []
    yield started
    for service in reversed(started):
        service.stop()


def test_replicas_of_a_dns_name_join_and_leave_while_tasks_run(
    work_dir: Path,
    redis_server: RedisServer,
    face_port: int,
    services: list[ServiceProcess],
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"dns-{uuid.uuid4().hex[:8]}"
    hosts = HostsFile(work_dir / f"hosts-{prefix}.json")  # the name resolves to nothing yet
    first = FaceService(work_dir, face_port, host=FIRST, FACE_WORKERS="1")
    second = FaceService(work_dir, face_port, host=SECOND, FACE_WORKERS="1")
    gateway = NamedGateway(
        work_dir,
        redis_server.url,
        [f"dns:///{NAME}:{face_port}"],
        hosts,
        **TEST_GATEWAY_ENV,
        GATEWAY_KEY_PREFIX=prefix,
        GATEWAY_FACE_RESOLVE_SECONDS="0.2",
        GATEWAY_FACE_JOB_TIMEOUT_SECONDS="300",  # a job stuck on a paused replica is not saved by its timeout
    )
    services.append(gateway.start())
    address = {FIRST: first.address, SECOND: second.address}
    metrics_url = f"{gateway.url}/metrics"

    def readiness() -> tuple[int, dict]:
        answer = api.get("/readyz")
        return answer.status_code, answer.json()

    def jobs_sent(replica: str) -> float:
        return metrics(metrics_url).get(f"faceblur_gateway_face_service_jobs_total{{address={address[replica]}}}", 0)

    def in_flight_limit() -> float:
        return metrics(metrics_url)["faceblur_gateway_dispatcher_in_flight_limit"]

    try:
        with gateway.client() as api:
            # A name that resolves to nothing: not ready, saying so; tasks wait.
            status, body = readiness()
            assert status == 503 and body["face_services"] == {
                f"dns:///{NAME}:{face_port}": "resolves to no address (gaierror: [Errno -2] Name or service not known)"
            }
            assert f"dns:///{NAME}:{face_port}: resolves to no address" in body["detail"]
            waiting = [submit(api, "detect_faces", small_jpeg(), preset="fast") for _ in range(3)]

            # One replica.
            services.append(first.start())
            hosts.point({NAME: [FIRST]})
            wait_until(lambda: readiness()[0] == 200, 15, "ready with the first replica")
            assert readiness()[1]["face_services"] == {first.address: "SERVING"}
            assert_all_succeeded(wait_for_all(api, waiting, timeout=60), 3)
            wait_until(lambda: in_flight_limit() == 1 + 2, 15, "capacity: 1 worker and a margin of 2")

            # A second replica appears: it gets a stream, a share of the jobs, and its workers count.
            services.append(second.start())
            hosts.point({NAME: [SECOND, FIRST]})
            wait_until(
                lambda: readiness()[1]["face_services"] == {first.address: "SERVING", second.address: "SERVING"},
                15,
                "both replicas in /readyz",
            )
            wait_until(lambda: in_flight_limit() == 2 + 2, 15, "capacity: 2 workers and a margin of 2")
            connected = metrics(metrics_url)
            for replica in (FIRST, SECOND):
                assert connected[f"faceblur_gateway_face_service_connected{{address={address[replica]}}}"] == 1
            shared = [submit(api, "detect_faces", small_jpeg(), preset="fast") for _ in range(12)]
            assert_all_succeeded(wait_for_all(api, shared), 12)
            served = sum(task_id in second.log_path.read_text() for task_id in shared)
            assert served >= 2 and jobs_sent(SECOND) >= served, f"the new replica served {served} of 12"

            # The first leaves the name while it holds jobs (paused: they would never be answered). Its jobs in
            # flight are retried on the second; every task ends SUCCESS.
            first.pause()
            sent_before = jobs_sent(FIRST)
            leaving = [submit(api, "detect_faces", small_jpeg(), preset="fast") for _ in range(12)]
            wait_until(lambda: jobs_sent(FIRST) > sent_before, 15, "jobs sent to the paused first replica")
            hosts.point({NAME: [SECOND]})
            results = wait_for_all(api, leaving, timeout=90)
            assert_all_succeeded(results, 12)
            assert any(r["attempts"] == 2 for r in results), "no job was in flight on the replica that left"
            status, body = readiness()
            assert (status, body["face_services"]) == (200, {second.address: "SERVING"})
            after = metrics(metrics_url)
            assert f"faceblur_gateway_face_service_jobs_total{{address={first.address}}}" not in after
            assert f"faceblur_gateway_face_service_connected{{address={first.address}}}" not in after
            assert after["faceblur_gateway_dispatcher_in_flight_limit"] == 1 + 2
        assert_nothing_left_behind(redis_server, prefix)
        log = gateway.log_path.read_text()
        assert f"face service {first.address} dropped" in log
        assert f"resolving dns:///{NAME}:{face_port} failed" in log
    except BaseException:
        with capsys.disabled():
            print(gateway.logs())
        raise
