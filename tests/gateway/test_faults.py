"""Crashes and outages: no accepted task is lost or left RUNNING when a process dies or a service is away."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from gateway_service.tasks.keys import RedisKeys
from tests.gateway.helpers import reference_jpeg, small_jpeg, statuses, submit, wait_for, wait_for_all
from tests.stack import FaceService, Gateway, RedisServer, Stack, StandaloneDispatcher, free_port

BATCH = 20


def submit_batch(api: httpx.Client, count: int = BATCH) -> list[str]:
    image = small_jpeg()
    return [submit(api, "detect_faces" if n % 2 else "blur_faces", image, preset="fast") for n in range(count)]


def assert_nothing_left_behind(redis_server: RedisServer, prefix: str = "faceblur") -> None:
    """Every job acknowledged and removed, every uploaded image deleted."""
    keys = RedisKeys(prefix)
    with redis_server.client() as client:
        assert client.xlen(keys.job_stream) == 0
        assert client.xpending(keys.job_stream, keys.dispatcher_group)["pending"] == 0
        assert list(client.scan_iter(match=keys.image("*"))) == []


def wait_for_statuses(api: httpx.Client, task_ids: list[str], expected: set[str], timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        now = statuses(api, task_ids)
        if set(now) <= expected or time.monotonic() > deadline:
            return now
        time.sleep(0.1)


def submit_to_a_hung_face_service(stack: Stack, api: httpx.Client, count: int = BATCH) -> tuple[list[str], list[str]]:
    """Hang the face service and submit a batch: the task ids, and their statuses once the hung service holds the
    first jobs (RUNNING) and the rest wait in the queue (PENDING)."""
    stack.face.pause()
    task_ids = submit_batch(api, count)
    return task_ids, wait_for_statuses(api, task_ids, {"PENDING", "RUNNING"})


def assert_all_succeeded(results: list[dict], count: int) -> None:
    assert [r["status"] for r in results] == ["SUCCESS"] * count, [r.get("error") for r in results]


def assert_still_pending(api: httpx.Client, task_ids: list[str]) -> None:
    """With nothing to run them, every task is still PENDING half a second later."""
    time.sleep(0.5)
    assert statuses(api, task_ids) == ["PENDING"] * len(task_ids)


@contextmanager
def running(service: FaceService | StandaloneDispatcher) -> Iterator[None]:
    """Start the service for the length of the block; stop it after, whatever happens."""
    service.start()
    try:
        yield
    finally:
        service.stop()


@pytest.fixture()
def own_stack(make_stack: Callable[..., Stack]) -> Stack:
    """A stack of the test's own (Redis, face service, gateway), for tests that crash or hang a part of it."""
    return make_stack()


def test_tasks_survive_a_face_service_crash(own_stack: Stack) -> None:
    with own_stack.gateway.client() as api:
        task_ids, held = submit_to_a_hung_face_service(own_stack, api)
        assert "RUNNING" in held
        own_stack.face.kill()

        assert wait_for_statuses(api, task_ids, {"PENDING"}) == ["PENDING"] * BATCH, "tasks must wait, not fail"
        not_ready = api.get("/readyz")
        assert not_ready.status_code == 503
        assert own_stack.face.address in not_ready.json()["detail"]

        own_stack.face.start()
        results = wait_for_all(api, task_ids)

    assert_all_succeeded(results, BATCH)
    assert_nothing_left_behind(own_stack.redis)


def test_tasks_survive_a_gateway_crash(own_stack: Stack) -> None:
    with own_stack.gateway.client() as api:
        task_ids, held = submit_to_a_hung_face_service(own_stack, api)
        in_flight = held.count("RUNNING")
        assert in_flight > 0
        own_stack.gateway.kill()
    own_stack.face.resume()

    own_stack.gateway.start()
    with own_stack.gateway.client() as api:
        results = wait_for_all(api, task_ids)

    assert_all_succeeded(results, BATCH)
    assert sum(r["attempts"] == 2 for r in results) == in_flight, "the crashed gateway's jobs were not taken over"
    assert_nothing_left_behind(own_stack.redis)


def test_tasks_wait_for_an_unreachable_face_service_then_fail_with_the_reason(
    redis_server: RedisServer, make_gateway: Callable[..., Gateway], prefix: str
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    gateway = make_gateway(
        redis_server.url, [nowhere], GATEWAY_KEY_PREFIX=prefix, GATEWAY_FACE_SERVICE_WAIT_SECONDS="2"
    )
    with gateway.client() as api:
        task_id = submit(api, "detect_faces", reference_jpeg())
        started = time.monotonic()
        waiting = api.get(f"/task_result/{task_id}", params={"wait": 0.5}).json()
        assert waiting["status"] == "PENDING"
        assert 0.4 < time.monotonic() - started < 1.5, "?wait= should hold the request for the time asked"

        ready = api.get("/readyz")
        assert ready.status_code == 503
        assert nowhere in ready.json()["detail"] and ready.json()["redis"] == "ok"

        failed = wait_for(api, task_id, timeout=15)
    assert failed["status"] == "FAILURE"
    assert "unreachable" in failed["error"] and "GATEWAY_FACE_SERVICE_WAIT_SECONDS" in failed["error"]
    assert nowhere in failed["error"]


def test_tasks_queued_before_the_face_service_starts_run_once_it_is_up(
    redis_server: RedisServer, make_gateway: Callable[..., Gateway], work_dir: Path, prefix: str
) -> None:
    face = FaceService(work_dir)
    gateway = make_gateway(redis_server.url, [face.address], GATEWAY_KEY_PREFIX=prefix)
    with gateway.client() as api:
        task_ids = [submit(api, "detect_faces", reference_jpeg()) for _ in range(3)]
        assert_still_pending(api, task_ids)
        with running(face):
            results = wait_for_all(api, task_ids, timeout=30)
    assert_all_succeeded(results, 3)


def test_a_job_that_keeps_killing_its_worker_fails_after_the_attempt_limit(
    redis_server: RedisServer, stack: Stack, make_gateway: Callable[..., Gateway], prefix: str
) -> None:
    keys = RedisKeys(prefix)
    task_id = str(uuid.uuid4())
    # The trace a job leaves after crashing its dispatcher three times: RUNNING, three attempts, still pending
    # on a consumer that no longer exists.
    with redis_server.client() as client:
        client.hset(
            keys.task(task_id),
            mapping={"kind": "detect", "status": "RUNNING", "options": "{}", "created_at": time.time(), "attempts": 3},
        )
        client.set(keys.image(task_id), reference_jpeg())
        client.xgroup_create(keys.job_stream, keys.dispatcher_group, id="0", mkstream=True)
        client.xadd(keys.job_stream, {"task_id": task_id})
        client.xreadgroup(keys.dispatcher_group, "crashed-dispatcher", {keys.job_stream: ">"}, count=1)

    gateway = make_gateway(redis_server.url, [stack.face.address], GATEWAY_KEY_PREFIX=prefix, GATEWAY_MAX_ATTEMPTS="3")
    with gateway.client() as api:
        body = wait_for(api, task_id, timeout=20)

    assert body["status"] == "FAILURE"
    assert body["error"].startswith("gave up after 3 attempts"), body["error"]
    assert_nothing_left_behind(redis_server, prefix)


def test_readiness_names_redis_when_it_is_down(stack: Stack, make_gateway: Callable[..., Gateway]) -> None:
    gateway = make_gateway(f"redis://127.0.0.1:{free_port()}/0", [stack.face.address])
    with gateway.client() as api:
        ready = api.get("/readyz")
        assert ready.status_code == 503
        assert "redis is down" in ready.json()["detail"]
        assert ready.json()["face_services"] == {stack.face.address: "SERVING"}

        refused = api.post("/detect_faces", files={"file": ("a.jpg", reference_jpeg())})
        assert refused.status_code == 503
        assert "Redis" in refused.json()["detail"]


def test_several_gateways_share_the_work_of_one_redis(
    redis_server: RedisServer, stack: Stack, make_gateway: Callable[..., Gateway], prefix: str
) -> None:
    gateways = [make_gateway(redis_server.url, [stack.face.address], GATEWAY_KEY_PREFIX=prefix) for _ in range(2)]
    with gateways[0].client() as first, gateways[1].client() as second:
        task_ids = [submit(api, "detect_faces", small_jpeg(), preset="fast") for api in (first, second) * 6]
        results = wait_for_all(second, task_ids)

    assert_all_succeeded(results, len(task_ids))
    with redis_server.client() as client:
        workers = {client.hget(RedisKeys(prefix).task(t), "dispatcher") for t in task_ids}
    assert len(workers) == 2, f"one dispatcher did all the work: {workers}"


def test_jobs_are_spread_over_several_face_services(
    redis_server: RedisServer, stack: Stack, make_gateway: Callable[..., Gateway], work_dir: Path, prefix: str
) -> None:
    second_face = FaceService(work_dir)
    with running(second_face):
        gateway = make_gateway(redis_server.url, [stack.face.address, second_face.address], GATEWAY_KEY_PREFIX=prefix)
        with gateway.client() as api:
            task_ids = [submit(api, "detect_faces", small_jpeg(), preset="fast") for _ in range(12)]
            results = wait_for_all(api, task_ids)

    assert_all_succeeded(results, len(task_ids))
    for face in (stack.face, second_face):
        served = sum(task_id in face.log_path.read_text() for task_id in task_ids)
        assert served >= 2, f"{face.address} got {served} of {len(task_ids)} jobs"


def test_a_standalone_dispatcher_serves_gateways_that_run_none(
    redis_server: RedisServer, stack: Stack, make_gateway: Callable[..., Gateway], work_dir: Path, prefix: str
) -> None:
    gateway = make_gateway(
        redis_server.url, [stack.face.address], GATEWAY_KEY_PREFIX=prefix, GATEWAY_RUN_DISPATCHER="false"
    )
    with gateway.client() as api:
        task_id = submit(api, "detect_faces", small_jpeg(), preset="fast")
        assert "GATEWAY_RUN_DISPATCHER=false" in api.get("/readyz").json()["dispatcher"]
        assert_still_pending(api, [task_id])

        dispatcher = StandaloneDispatcher(work_dir, redis_server.url, [stack.face.address], GATEWAY_KEY_PREFIX=prefix)
        with running(dispatcher):
            body = wait_for(api, task_id, timeout=20)
    assert body["status"] == "SUCCESS", body
    assert dispatcher.process is not None and dispatcher.process.returncode == 0, "SIGTERM should stop it cleanly"


def test_tasks_survive_a_redis_restart(own_stack: Stack) -> None:
    with own_stack.gateway.client() as api:
        task_ids, _ = submit_to_a_hung_face_service(own_stack, api, 10)
        own_stack.redis.stop()  # a clean restart: the append-only file has every accepted task
        assert api.get("/readyz").json()["redis"] != "ok"
        own_stack.redis.start()
        own_stack.face.resume()
        results = wait_for_all(api, task_ids)

    assert_all_succeeded(results, 10)
    assert_nothing_left_behind(own_stack.redis)
