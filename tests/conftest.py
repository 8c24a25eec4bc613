"""Shared fixtures: real Redis, face service and gateway processes (see tests/stack.py).

The ``stack`` fixture is one set of processes for the whole session; tests that kill or stop processes ask
``make_stack`` for their own. Gateways under test use short timeouts so fault recovery takes seconds.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from tests.stack import REPO_ROOT, Gateway, RedisServer, Stack

# Gateway settings for tests: abandoned jobs are claimed after 1.5 s instead of a minute, uploads are
# limited to 1 MiB so "too large" bodies stay small, and a stopped gateway lets go quickly.
TEST_GATEWAY_ENV = {
    "GATEWAY_CLAIM_IDLE_SECONDS": "1.5",
    "GATEWAY_MAX_UPLOAD_BYTES": str(1024 * 1024),
    "GATEWAY_SHUTDOWN_GRACE_SECONDS": "2",
    "GATEWAY_FACE_SERVICE_WAIT_SECONDS": "120",
}


def pytest_configure(config: pytest.Config) -> None:
    if not (REPO_ROOT / "faceblur_proto" / "v1" / "face_detection_pb2.py").exists():
        subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "gen_protos.py")], check=True)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "report_call", None)
    return report is None or report.failed


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def redis_server(work_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(work_dir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack(work_dir: Path, redis_server: RedisServer) -> Iterator[Stack]:
    running = Stack(work_dir / "session", redis_server=redis_server, **TEST_GATEWAY_ENV).start()
    yield running
    running.stop()


@pytest.fixture()
def api(stack: Stack, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    with stack.gateway.client() as client:
        yield client
    if _failed(request):
        print(stack.logs())


def _stop_after_test(started: Sequence[Stack | Gateway], request: pytest.FixtureRequest) -> None:
    for each in started:
        if _failed(request):
            print(each.logs())
        each.stop()


@pytest.fixture()
def make_stack(work_dir: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Stack]]:
    """Start a private stack (own Redis, face service and gateway); gateway settings as keyword arguments."""
    started: list[Stack] = []

    def make(**gateway_env: str) -> Stack:
        started.append(Stack(work_dir / f"private-{uuid.uuid4().hex[:8]}", **(TEST_GATEWAY_ENV | gateway_env)))
        return started[-1].start()

    yield make
    _stop_after_test(started, request)


@pytest.fixture()
def make_gateway(work_dir: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Gateway]]:
    """Start an extra gateway on any Redis and face services; settings as keyword arguments."""
    started: list[Gateway] = []

    def make(redis_url: str, face_addresses: list[str], **env: str) -> Gateway:
        started.append(Gateway(work_dir, redis_url, face_addresses, **(TEST_GATEWAY_ENV | env)))
        return started[-1].start()

    yield make
    _stop_after_test(started, request)
