"""The task store and job queue against a real Redis: what each step leaves behind, and what it refuses."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis

from gateway_service.tasks.keys import RedisKeys
from gateway_service.tasks.models import JobKind, JobOptions, TaskRecord, TaskStatus
from gateway_service.tasks.queue import JobQueue
from gateway_service.tasks.store import TaskStore
from tests.stack import RedisServer

TTL = 3600


def new_record(**overrides: object) -> TaskRecord:
    fields: dict = dict(
        task_id=str(uuid.uuid4()),
        kind=JobKind.BLUR,
        status=TaskStatus.PENDING,
        options=JobOptions(threshold=0.5, mode="pixelate"),
        created_at=time.time(),
        image_format="jpeg",
    )
    return TaskRecord(**(fields | overrides))


Scenario = Callable[[Redis, RedisKeys, TaskStore], Awaitable[None]]


@pytest.fixture()
def run_with_store(redis_server: RedisServer) -> Callable[[Scenario], None]:
    """Run an async scenario against the real Redis under a key prefix of its own."""

    def run(scenario: Scenario) -> None:
        async def main() -> None:
            redis = Redis.from_url(redis_server.url)
            keys = RedisKeys(f"test-{uuid.uuid4().hex[:8]}")
            try:
                await JobQueue(redis, keys, "setup").ensure_group()
                await scenario(redis, keys, TaskStore(redis, keys, TTL))
            finally:
                await redis.aclose()

        asyncio.run(main())

    return run


def test_a_new_task_is_pending_with_its_image_and_a_queued_job(run_with_store: Callable[[Scenario], None]) -> None:
    async def scenario(redis: Redis, keys: RedisKeys, store: TaskStore) -> None:
        record = new_record()
        await store.create(record, b"\xff\xd8\xffimage")

        stored = await store.get(record.task_id)
        assert stored is not None
        assert (stored.status, stored.kind, stored.options, stored.attempts) == (
            TaskStatus.PENDING, JobKind.BLUR, record.options, 0,
        )  # fmt: skip
        assert stored.created_at == pytest.approx(record.created_at)
        assert await store.get_image(record.task_id) == b"\xff\xd8\xffimage"
        assert 0 < await redis.ttl(keys.task(record.task_id)) <= TTL
        assert 0 < await redis.ttl(keys.image(record.task_id)) <= TTL
        jobs = await JobQueue(redis, keys, "reader").read_new(10, block_ms=100)
        assert [job.task_id for job in jobs] == [record.task_id]

    run_with_store(scenario)


def test_success_stores_the_result_drops_the_image_and_acknowledges_the_job(
    run_with_store: Callable[[Scenario], None],
) -> None:
    async def scenario(redis: Redis, keys: RedisKeys, store: TaskStore) -> None:
        record = new_record()
        await store.create(record, b"image")
        [job] = await JobQueue(redis, keys, "worker").read_new(1, block_ms=100)

        assert await store.start_attempt(record.task_id, "worker") == 1
        assert (await store.get(record.task_id)).status is TaskStatus.RUNNING
        assert await store.finish_success(record.task_id, job.entry_id, {"faces": {}}, b"blurred") is True

        done = await store.get(record.task_id)
        assert done.status is TaskStatus.SUCCESS
        assert done.result == {"faces": {}} and done.result_image == b"blurred"
        assert done.finished_at is not None and done.attempts == 1
        assert await store.get_image(record.task_id) is None
        assert await redis.xlen(keys.job_stream) == 0
        assert (await redis.xpending(keys.job_stream, keys.dispatcher_group))["pending"] == 0

    run_with_store(scenario)


def test_a_finished_task_is_never_changed_again(run_with_store: Callable[[Scenario], None]) -> None:
    async def scenario(redis: Redis, keys: RedisKeys, store: TaskStore) -> None:
        record = new_record()
        await store.create(record, b"image")
        [job] = await JobQueue(redis, keys, "worker").read_new(1, block_ms=100)
        await store.start_attempt(record.task_id, "worker")
        assert await store.finish_failure(record.task_id, job.entry_id, "corrupt image") is True

        assert await store.finish_success(record.task_id, job.entry_id, {"faces": {}}, None) is False
        assert await store.start_attempt(record.task_id, "late worker") == 0
        assert await store.back_to_pending(record.task_id, "stream lost") is None
        final = await store.get(record.task_id)
        assert (final.status, final.error, final.attempts) == (TaskStatus.FAILURE, "corrupt image", 1)

    run_with_store(scenario)


def test_waiting_for_the_face_service_keeps_the_first_wait_start(run_with_store: Callable[[Scenario], None]) -> None:
    async def scenario(redis: Redis, keys: RedisKeys, store: TaskStore) -> None:
        record = new_record()
        await store.create(record, b"image")
        await store.start_attempt(record.task_id, "worker")

        assert await store.back_to_pending(record.task_id, "stream lost") == 0.0
        assert await store.back_to_pending(record.task_id, "unreachable", waiting_since=100.0) == 100.0
        assert await store.back_to_pending(record.task_id, "still unreachable", waiting_since=200.0) == 100.0
        waiting = await store.get(record.task_id)
        assert (waiting.status, waiting.last_problem) == (TaskStatus.PENDING, "still unreachable")

    run_with_store(scenario)


def test_finishing_notifies_the_task_channel(run_with_store: Callable[[Scenario], None]) -> None:
    async def scenario(redis: Redis, keys: RedisKeys, store: TaskStore) -> None:
        record = new_record()
        await store.create(record, b"image")
        [job] = await JobQueue(redis, keys, "worker").read_new(1, block_ms=100)
        pubsub = redis.pubsub()
        await pubsub.psubscribe(keys.done_channel_pattern)
        await pubsub.get_message(timeout=1)  # the subscription confirmation

        await store.finish_success(record.task_id, job.entry_id, {"faces": {}}, None)
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None
        assert message["channel"].decode() == keys.done_channel(record.task_id)
        await pubsub.aclose()

    run_with_store(scenario)


def test_a_job_abandoned_by_a_dead_consumer_is_claimed_by_another(
    run_with_store: Callable[[Scenario], None],
) -> None:
    async def scenario(redis: Redis, keys: RedisKeys, store: TaskStore) -> None:
        records = [new_record() for _ in range(3)]
        for record in records:
            await store.create(record, b"image")
        dead = JobQueue(redis, keys, "dead")
        alive = JobQueue(redis, keys, "alive")
        held = await dead.read_new(3, block_ms=100)

        assert await alive.claim_abandoned(min_idle_ms=500, count=10) == []  # not idle long enough yet
        await asyncio.sleep(0.3)
        await dead.refresh([held[0].entry_id])  # a live consumer keeps its job
        await asyncio.sleep(0.3)
        claimed = await alive.claim_abandoned(min_idle_ms=500, count=10)

        assert sorted(job.task_id for job in claimed) == sorted(job.task_id for job in held[1:])
        assert all(job.deliveries == 2 for job in claimed)
        assert await dead.owned_entry_ids([job.entry_id for job in held]) == [held[0].entry_id]

    run_with_store(scenario)
