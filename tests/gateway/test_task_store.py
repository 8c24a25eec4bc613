"""The task store and job queue against a real Redis: what each step leaves behind, and what it refuses."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from gateway_service.tasks.keys import RedisKeys
from gateway_service.tasks.models import JobOptions, TaskKind, TaskRecord, TaskStatus
from gateway_service.tasks.queue import JobEntry, JobQueue
from gateway_service.tasks.store import TaskStore
from tests.stack import RedisServer

TTL = 3600

pytestmark = pytest.mark.anyio


def new_record(**overrides: object) -> TaskRecord:
    fields: dict = dict(
        task_id=str(uuid.uuid4()),
        kind=TaskKind.BLUR,
        status=TaskStatus.PENDING,
        options=JobOptions(threshold=0.5, mode="pixelate"),
        created_at=time.time(),
        image_format="jpeg",
    )
    return TaskRecord(**(fields | overrides))


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"  # redis.asyncio runs on asyncio only


@pytest.fixture()
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture()
async def keys(redis: Redis) -> RedisKeys:
    """A key prefix of this test's own, with the job stream and its consumer group made."""
    keys = RedisKeys(f"test-{uuid.uuid4().hex[:8]}")
    await JobQueue(redis, keys, "setup").ensure_group()
    return keys


@pytest.fixture()
def store(redis: Redis, keys: RedisKeys) -> TaskStore:
    return TaskStore(redis, keys, TTL)


@pytest.fixture()
async def taken(redis: Redis, keys: RedisKeys, store: TaskStore) -> tuple[TaskRecord, JobEntry]:
    """A new task, and its job as a worker read it from the queue."""
    record = new_record()
    await store.create(record, b"image")
    [job] = await JobQueue(redis, keys, "worker").read_new(1, block_ms=100)
    return record, job


@pytest.fixture()
async def done_channels(redis: Redis, keys: RedisKeys) -> AsyncIterator[PubSub]:
    """A subscription to every task's done channel."""
    pubsub = redis.pubsub()
    await pubsub.psubscribe(keys.done_channel_pattern)
    await pubsub.get_message(timeout=1)  # the subscription confirmation
    yield pubsub
    await pubsub.aclose()


async def test_a_new_task_is_pending_with_its_image_and_a_queued_job(
    redis: Redis, keys: RedisKeys, store: TaskStore
) -> None:
    record = new_record()
    await store.create(record, b"\xff\xd8\xffimage")

    stored = await store.get(record.task_id)
    assert stored is not None
    assert (stored.status, stored.kind, stored.options, stored.attempts) == (
        TaskStatus.PENDING, TaskKind.BLUR, record.options, 0,
    )  # fmt: skip
    assert stored.created_at == pytest.approx(record.created_at)
    assert await store.get_image(record.task_id) == b"\xff\xd8\xffimage"
    assert 0 < await redis.ttl(keys.task(record.task_id)) <= TTL
    assert 0 < await redis.ttl(keys.image(record.task_id)) <= TTL
    jobs = await JobQueue(redis, keys, "reader").read_new(10, block_ms=100)
    assert [job.task_id for job in jobs] == [record.task_id]


async def test_success_stores_the_result_drops_the_image_and_acknowledges_the_job(
    redis: Redis, keys: RedisKeys, store: TaskStore, taken: tuple[TaskRecord, JobEntry]
) -> None:
    record, job = taken

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


async def test_a_finished_task_is_never_changed_again(store: TaskStore, taken: tuple[TaskRecord, JobEntry]) -> None:
    record, job = taken
    await store.start_attempt(record.task_id, "worker")
    assert await store.finish_failure(record.task_id, job.entry_id, "corrupt image") is True

    assert await store.finish_success(record.task_id, job.entry_id, {"faces": {}}, None) is False
    assert await store.start_attempt(record.task_id, "late worker") == 0
    assert await store.back_to_pending(record.task_id, "stream lost") is None
    final = await store.get(record.task_id)
    assert (final.status, final.error, final.attempts) == (TaskStatus.FAILURE, "corrupt image", 1)


async def test_waiting_for_the_face_service_keeps_the_first_wait_start(store: TaskStore) -> None:
    record = new_record()
    await store.create(record, b"image")
    await store.start_attempt(record.task_id, "worker")

    assert await store.back_to_pending(record.task_id, "stream lost") == 0.0
    assert await store.back_to_pending(record.task_id, "unreachable", waiting_since=100.0) == 100.0
    assert await store.back_to_pending(record.task_id, "still unreachable", waiting_since=200.0) == 100.0
    waiting = await store.get(record.task_id)
    assert (waiting.status, waiting.last_problem) == (TaskStatus.PENDING, "still unreachable")


async def test_finishing_notifies_the_task_channel(
    keys: RedisKeys, store: TaskStore, taken: tuple[TaskRecord, JobEntry], done_channels: PubSub
) -> None:
    record, job = taken

    await store.finish_success(record.task_id, job.entry_id, {"faces": {}}, None)
    message = await done_channels.get_message(ignore_subscribe_messages=True, timeout=2)
    assert message is not None
    assert message["channel"].decode() == keys.done_channel(record.task_id)


async def test_a_job_abandoned_by_a_dead_consumer_is_claimed_by_another(
    redis: Redis, keys: RedisKeys, store: TaskStore
) -> None:
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
