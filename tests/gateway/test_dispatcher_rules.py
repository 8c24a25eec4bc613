"""The dispatcher's rules, fast and in-process: retries, busy answers, poison jobs, waiting for a face service,
and the in-flight limit that follows the face services' capacity.

The dispatcher runs against the real Redis (task store and job stream as in production) with a stand-in for
the gRPC side: ``StandInPool`` has FacePool's methods and answers each job as the test scripts it. The same
rules are proved against real processes, crashes included, in test_faults.py and tests/hostile/.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
import pytest
from redis.asyncio import Redis

from faceblur_proto.framing import JobAnswer, JobError
from faceblur_proto.v1 import face_detection_pb2 as pb
from gateway_service.core.config import Settings
from gateway_service.dispatcher.capacity import ASSUMED_WORKERS, in_flight_limit
from gateway_service.dispatcher.consumer import Dispatcher
from gateway_service.dispatcher.face_client import FaceJobTimeout, FaceServiceUnavailable, wait_until
from gateway_service.tasks.keys import RedisKeys
from gateway_service.tasks.models import JobOptions, TaskKind, TaskRecord, TaskStatus
from gateway_service.tasks.queue import JobQueue
from gateway_service.tasks.store import TaskStore
from tests.stack import RedisServer

# An answer script: what the stand-in face service does with the n-th job it is sent (1-based), given its id.
Reply = JobAnswer | Exception | Callable[[str], Awaitable[JobAnswer]]


def success(job_id: str = "") -> JobAnswer:
    return JobAnswer(job_id, result=pb.JobResult(model="stand-in", preset="fast", image_width=4, image_height=3))


def error(code: grpc.StatusCode, message: str = "") -> JobAnswer:
    return JobAnswer("", error=JobError(code, message or code.name.lower()))


@dataclass
class StandInPool:
    """FacePool's interface with no gRPC behind it: ``replies`` answer the jobs in the order they are sent."""

    replies: list[Reply] = field(default_factory=list)
    workers: list[int | None] = field(default_factory=lambda: [2])
    sent: list[str] = field(default_factory=list)
    available: bool = True
    down_since: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    @property
    def connected_workers(self) -> list[int | None]:
        return self.workers if self.available else []

    def describe_problem(self) -> str:
        return "face service stand-in:1 is TRANSIENT_FAILURE (test)"

    def set_available(self, available: bool) -> None:
        self.available = available
        self.down_since = None if available else time.time()
        self._changed.set()

    async def wait_available(self, timeout: float) -> bool:
        return await wait_until(lambda: self.available, self._changed, timeout)

    async def process(self, job_id: str, options: pb.JobOptions, image: bytes, timeout: float) -> JobAnswer:
        self.sent.append(job_id)
        reply = self.replies[len(self.sent) - 1] if len(self.sent) <= len(self.replies) else success()
        if isinstance(reply, Exception):
            raise reply
        if callable(reply):
            return await reply(job_id)
        return reply


def unavailable_pool() -> StandInPool:
    """A stand-in whose face services are all down (until the test brings them up)."""
    pool = StandInPool()
    pool.set_available(False)
    return pool


@dataclass
class Harness:
    redis: Redis
    keys: RedisKeys
    store: TaskStore
    pool: StandInPool
    dispatcher: Dispatcher

    async def submit(self, **stored: str | int) -> str:
        """A new task as the API creates it; ``stored`` overwrites fields of its hash (its state so far)."""
        record = TaskRecord(
            task_id=str(uuid.uuid4()),
            kind=TaskKind.DETECT,
            status=TaskStatus.PENDING,
            options=JobOptions(),
            created_at=time.time(),
            image_format="jpeg",
        )
        await self.store.create(record, b"\xff\xd8\xff stand-in image", state=stored)
        return record.task_id

    async def submit_and_finish(self) -> tuple[str, TaskRecord]:
        """A new task, and its record once the dispatcher has settled it."""
        task_id = await self.submit()
        return task_id, await self.final(task_id)

    async def final(self, task_id: str, timeout: float = 10.0) -> TaskRecord:
        deadline = time.monotonic() + timeout
        while True:
            record = await self.store.get(task_id)
            assert record is not None
            if record.status.is_final:
                return record
            assert time.monotonic() < deadline, f"task still {record.status} after {timeout:g} s"
            await asyncio.sleep(0.02)

    async def queue_is_empty(self) -> bool:
        pending = await self.redis.xpending(self.keys.job_stream, self.keys.dispatcher_group)
        return await self.redis.xlen(self.keys.job_stream) == 0 and pending["pending"] == 0


Scenario = Callable[[Harness], Awaitable[None]]


@pytest.fixture()
def run_dispatcher(redis_server: RedisServer) -> Callable[..., None]:
    """Run a scenario with a started dispatcher (settings as keyword arguments) and a stand-in face pool."""

    def run(scenario: Scenario, pool: StandInPool | None = None, **settings: object) -> None:
        async def main() -> None:
            redis = Redis.from_url(redis_server.url)
            keys = RedisKeys(f"rules-{uuid.uuid4().hex[:8]}")
            store = TaskStore(redis, keys, 3600)
            stand_in = pool or StandInPool()
            options = dict(
                key_prefix=keys.prefix, claim_idle_seconds=5, face_service_wait_seconds=5, face_job_timeout_seconds=5
            )
            dispatcher = Dispatcher(
                Settings(**(options | settings)), store, JobQueue(redis, keys, "rules-dispatcher"), stand_in
            )
            await dispatcher.start()
            try:
                await scenario(Harness(redis, keys, store, stand_in, dispatcher))
            finally:
                await dispatcher.stop()
                await redis.aclose()

        asyncio.run(main())

    return run


def test_an_answered_job_succeeds_on_the_first_try(run_dispatcher: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        task_id, done = await h.submit_and_finish()
        assert (done.status, done.attempts) == (TaskStatus.SUCCESS, 1)
        assert await h.redis.hget(h.keys.task(task_id), "dispatcher") == b"rules-dispatcher"
        assert done.result["model"] == "stand-in"
        assert h.pool.sent == [f"{task_id}/1/1"]
        assert await h.queue_is_empty() and await h.store.get_image(task_id) is None

    run_dispatcher(scenario)


def test_a_busy_face_service_is_asked_again_within_the_same_attempt(run_dispatcher: Callable[..., None]) -> None:
    busy = error(grpc.StatusCode.RESOURCE_EXHAUSTED, "server busy")
    pool = StandInPool(replies=[busy, busy, success()])

    async def scenario(h: Harness) -> None:
        task_id, done = await h.submit_and_finish()
        assert (done.status, done.attempts) == (TaskStatus.SUCCESS, 1), "busy answers are not attempts"
        assert h.pool.sent == [f"{task_id}/1/1", f"{task_id}/1/2", f"{task_id}/1/3"]

    run_dispatcher(scenario, pool)


def test_busy_past_the_job_timeout_is_an_unanswered_attempt(run_dispatcher: Callable[..., None]) -> None:
    pool = StandInPool(replies=[error(grpc.StatusCode.RESOURCE_EXHAUSTED)] * 4)

    async def scenario(h: Harness) -> None:
        _, done = await h.submit_and_finish()
        assert (done.status, done.attempts) == (TaskStatus.SUCCESS, 2)
        attempts = [int(job_id.split("/")[1]) for job_id in h.pool.sent]
        assert attempts[0] == 1 and attempts[-1] == 2 and sorted(attempts) == attempts, h.pool.sent

    run_dispatcher(scenario, pool, face_job_timeout_seconds=0.5)


@pytest.mark.parametrize(
    "unanswered",
    [
        FaceServiceUnavailable("face service stand-in:1: stream lost: UNAVAILABLE"),
        FaceJobTimeout("face service stand-in:1 gave no answer within 5 s"),
        error(grpc.StatusCode.UNAVAILABLE, "server is shutting down; send the job again"),
    ],
    ids=["stream lost", "timeout", "unavailable answer"],
)
def test_an_unanswered_attempt_is_retried(run_dispatcher: Callable[..., None], unanswered: Reply) -> None:
    async def scenario(h: Harness) -> None:
        task_id, done = await h.submit_and_finish()
        assert (done.status, done.attempts) == (TaskStatus.SUCCESS, 2)
        assert h.pool.sent == [f"{task_id}/1/1", f"{task_id}/2/1"]

    run_dispatcher(scenario, StandInPool(replies=[unanswered]))


def test_a_job_unanswered_at_every_attempt_fails_naming_the_last_problem(run_dispatcher: Callable[..., None]) -> None:
    pool = StandInPool(replies=[FaceServiceUnavailable(f"stream lost #{n}") for n in range(1, 4)])

    async def scenario(h: Harness) -> None:
        _, done = await h.submit_and_finish()
        assert done.status is TaskStatus.FAILURE
        assert done.error == "gave up after 3 attempts (GATEWAY_MAX_ATTEMPTS); last problem: stream lost #3"
        assert len(h.pool.sent) == 3 and await h.queue_is_empty()

    run_dispatcher(scenario, pool, max_attempts=3)


def test_a_poison_job_fails_without_being_sent_again(run_dispatcher: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        task_id = await h.submit(status="RUNNING", attempts=3, last_problem="worker crashed")
        done = await h.final(task_id)
        assert done.status is TaskStatus.FAILURE
        assert done.error == "gave up after 3 attempts (GATEWAY_MAX_ATTEMPTS); last problem: worker crashed"
        assert h.pool.sent == [] and await h.queue_is_empty()

    run_dispatcher(scenario, max_attempts=3)


def test_a_refused_image_fails_at_once_with_the_face_services_reason(run_dispatcher: Callable[..., None]) -> None:
    pool = StandInPool(replies=[error(grpc.StatusCode.INVALID_ARGUMENT, "the JPEG data is truncated")])

    async def scenario(h: Harness) -> None:
        task_id, done = await h.submit_and_finish()
        assert (done.status, done.attempts) == (TaskStatus.FAILURE, 1)
        assert done.error == "the JPEG data is truncated (INVALID_ARGUMENT)"
        assert await h.queue_is_empty() and await h.store.get_image(task_id) is None

    run_dispatcher(scenario, pool)


def test_a_job_whose_image_is_gone_fails_saying_so(run_dispatcher: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        h.pool.set_available(False)  # holds the job until its image is deleted
        task_id = await h.submit()
        await h.redis.delete(h.keys.image(task_id))
        h.pool.set_available(True)
        done = await h.final(task_id)
        assert done.status is TaskStatus.FAILURE and "no longer in Redis" in done.error
        assert h.pool.sent == []

    run_dispatcher(scenario, face_service_wait_seconds=0.01)


def test_a_finished_task_is_acknowledged_and_not_sent(run_dispatcher: Callable[..., None]) -> None:
    async def scenario(h: Harness) -> None:
        task_id = await h.submit(status="SUCCESS")
        deadline = time.monotonic() + 5
        while not await h.queue_is_empty():
            assert time.monotonic() < deadline, "the job of a finished task stayed in the stream"
            await asyncio.sleep(0.02)
        assert h.pool.sent == []
        assert (await h.store.get(task_id)).attempts == 0

    run_dispatcher(scenario)


def test_a_job_waits_pending_for_a_face_service_then_runs(run_dispatcher: Callable[..., None]) -> None:
    pool = unavailable_pool()

    async def scenario(h: Harness) -> None:
        task_id = await h.submit()
        deadline = time.monotonic() + 5
        while not (record := await h.store.get(task_id)).last_problem:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        assert record.status is TaskStatus.PENDING and "TRANSIENT_FAILURE" in record.last_problem
        assert h.pool.sent == []
        h.pool.set_available(True)
        done = await h.final(task_id)
        assert (done.status, done.attempts) == (TaskStatus.SUCCESS, 1)

    run_dispatcher(scenario, pool)


def test_a_job_fails_when_no_face_service_comes_within_the_wait(run_dispatcher: Callable[..., None]) -> None:
    pool = unavailable_pool()

    async def scenario(h: Harness) -> None:
        started = time.monotonic()
        done = await h.final(await h.submit())
        assert done.status is TaskStatus.FAILURE
        assert done.error.startswith(
            "the face service stayed unreachable for 0.5 s (GATEWAY_FACE_SERVICE_WAIT_SECONDS)"
        )
        assert "stand-in:1" in done.error and time.monotonic() - started < 3

    run_dispatcher(scenario, pool, face_service_wait_seconds=0.5)


# --- the in-flight limit ---------------------------------------------------------------------------------


def test_the_limit_is_the_services_workers_and_a_margin() -> None:
    assert in_flight_limit(0, [16]) == 20
    assert in_flight_limit(0, [8, 8]) == 20, "replicas add up"
    assert in_flight_limit(0, [2]) == 4 and in_flight_limit(0, [1]) == 3, "at least 2 beyond the workers"
    assert in_flight_limit(0, [None]) == in_flight_limit(0, []) == 8, "unknown: the former fixed default"
    assert in_flight_limit(0, [16, None]) == 16 + ASSUMED_WORKERS + 6
    assert in_flight_limit(32, [16]) == 32, "GATEWAY_MAX_IN_FLIGHT fixes it"


def held_until_released(release: asyncio.Event) -> Callable[[str], Awaitable[JobAnswer]]:
    async def answer(job_id: str) -> JobAnswer:
        await release.wait()
        return success(job_id)

    return answer


async def settle_count(read: Callable[[], int], seconds: float = 1.0) -> int:
    """The value once it has stopped changing for a while (the dispatcher reads in batches)."""
    last, still_since = read(), time.monotonic()
    while time.monotonic() - still_since < seconds:
        await asyncio.sleep(0.05)
        if (now := read()) != last:
            last, still_since = now, time.monotonic()
    return last


def held_pool(jobs: int, workers: list[int]) -> tuple[StandInPool, asyncio.Event]:
    """A stand-in reporting ``workers`` whose first ``jobs`` answers wait until the returned event is set."""
    release = asyncio.Event()
    return StandInPool(replies=[held_until_released(release)] * jobs, workers=workers), release


def test_the_dispatcher_holds_what_the_face_services_can_run_and_follows_them(
    run_dispatcher: Callable[..., None],
) -> None:
    pool, release = held_pool(60, workers=[16])

    async def scenario(h: Harness) -> None:
        task_ids = [await h.submit() for _ in range(50)]
        assert await settle_count(lambda: len(h.pool.sent)) == 20, "16 workers: 16 jobs and a margin of 4"
        assert h.dispatcher.in_flight == h.dispatcher.in_flight_limit == 20

        h.pool.workers = [16, 16]  # a second replica joined
        assert await settle_count(lambda: len(h.pool.sent)) == 40
        h.pool.workers = [16]  # and left again: no new job until the held ones are below the new limit
        assert h.dispatcher.in_flight_limit == 20 and h.dispatcher.in_flight == 40

        release.set()
        results = [await h.final(task_id) for task_id in task_ids]
        assert {r.status for r in results} == {TaskStatus.SUCCESS}

    run_dispatcher(scenario, pool)


def test_a_fixed_limit_overrides_the_capacity(run_dispatcher: Callable[..., None]) -> None:
    pool, release = held_pool(10, workers=[16])

    async def scenario(h: Harness) -> None:
        task_ids = [await h.submit() for _ in range(10)]
        assert await settle_count(lambda: len(h.pool.sent)) == 3
        release.set()
        assert {(await h.final(task_id)).status for task_id in task_ids} == {TaskStatus.SUCCESS}

    run_dispatcher(scenario, pool, max_in_flight=3)
