"""The dispatcher: moves jobs from the Redis stream to the face services and their outcomes back to Redis.

Each dispatcher is one consumer of the stream's consumer group, with a unique name. It holds at most
``max_in_flight`` jobs; while it holds them it refreshes their idle time, and jobs left idle longer than
``claim_idle_seconds`` (their dispatcher died) are claimed by whichever dispatcher looks next. A job is only
acknowledged together with its task's final status, so no accepted task is lost or left RUNNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

import grpc
from redis.asyncio import Redis
from redis.exceptions import RedisError

from faceblur_proto.framing import JobAnswer
from faceblur_proto.v1 import face_detection_pb2 as pb
from gateway_service.core.config import Settings
from gateway_service.dispatcher.face_client import FaceJobTimeout, FacePool, FaceServiceUnavailable
from gateway_service.dispatcher.results import job_options_message, stored_result
from gateway_service.metrics import STAGE_SECONDS, TASKS_FINISHED, observe_face_timings
from gateway_service.tasks.keys import RedisKeys
from gateway_service.tasks.models import JobKind, TaskStatus
from gateway_service.tasks.queue import JobEntry, JobQueue, unique_consumer_name
from gateway_service.tasks.store import TaskStore
from gateway_service.webhooks.delivery import WebhookSender

log = logging.getLogger(__name__)

# Job errors that say "not now" rather than "not this image".
_TRANSIENT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED}
_BUSY_CODES = {grpc.StatusCode.RESOURCE_EXHAUSTED}
_READ_BLOCK_MS = 2000
_FORGET_CONSUMERS_AFTER_SECONDS = 3600.0


class Dispatcher:
    def __init__(self, settings: Settings, redis: Redis, pool: FacePool | None = None) -> None:
        keys = RedisKeys(settings.key_prefix)
        self._settings = settings
        self._store = TaskStore(redis, keys, settings.task_ttl_seconds)
        self._queue = JobQueue(redis, keys, unique_consumer_name())
        self._pool = pool or FacePool(settings.face_service_addresses)
        self._webhooks = WebhookSender(settings, self._store)
        self._held: dict[str, asyncio.Task[None]] = {}  # stream entry id -> the task working on it
        self._slot_freed = asyncio.Event()
        self._group_ready = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []

    @property
    def consumer(self) -> str:
        return self._queue.consumer

    @property
    def pool(self) -> FacePool:
        return self._pool

    async def start(self) -> None:
        self._pool.start()
        self._loops = [
            asyncio.create_task(self._read_loop(), name="dispatcher-read"),
            asyncio.create_task(self._upkeep_loop(), name="dispatcher-upkeep"),
        ]
        log.info(
            "dispatcher %s started (face services: %s)", self.consumer, ", ".join(self._settings.face_service_addresses)
        )

    async def stop(self, grace_seconds: float = 0.0) -> None:
        """Stop taking jobs, give held ones ``grace_seconds`` to finish, then drop the rest (they get reclaimed)."""
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        jobs = list(self._held.values())
        if jobs and grace_seconds > 0:
            await asyncio.wait(jobs, timeout=grace_seconds)
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
        await self._pool.close()
        await self._webhooks.close(grace_seconds)
        log.info("dispatcher %s stopped", self.consumer)

    # --- loops ---------------------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        await self._retry_redis(self._queue.ensure_group)
        self._group_ready.set()
        failures = 0
        while True:
            free = self._settings.max_in_flight - len(self._held)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                entries = await self._queue.read_new(free, _READ_BLOCK_MS)
                failures = 0
            except RedisError as error:
                failures += 1
                log.warning("reading jobs failed (%s); retrying", error)
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                continue
            for entry in entries:
                self._take(entry)

    async def _upkeep_loop(self) -> None:
        """Keep held jobs ours, claim abandoned ones, forget long-dead consumers."""
        interval = max(self._settings.claim_idle_seconds / 3, 0.05)
        min_idle_ms = int(self._settings.claim_idle_seconds * 1000)
        last_forget = 0.0
        await self._group_ready.wait()
        while True:
            try:
                await self._refresh_held()
                free = self._settings.max_in_flight - len(self._held)
                for entry in await self._queue.claim_abandoned(min_idle_ms, free, exclude=set(self._held)):
                    log.info("claimed abandoned job (delivery %d)", entry.deliveries, extra={"task_id": entry.task_id})
                    self._take(entry)
                if time.monotonic() - last_forget > 60:
                    last_forget = time.monotonic()
                    forget_after_ms = int(
                        max(_FORGET_CONSUMERS_AFTER_SECONDS, 10 * self._settings.claim_idle_seconds) * 1000
                    )
                    await self._queue.remove_idle_consumers(forget_after_ms)
            except RedisError as error:
                log.warning("job upkeep failed (%s); retrying", error)
            await asyncio.sleep(interval)

    async def _refresh_held(self) -> None:
        if not self._held:
            return
        still_ours = await self._queue.owned_entry_ids(set(self._held))
        await self._queue.refresh(still_ours)

    async def _retry_redis(self, operation) -> None:  # type: ignore[no-untyped-def]
        delay = 0.2
        while True:
            try:
                return await operation()
            except RedisError as error:
                log.warning("Redis not ready (%s); retrying", error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _take(self, entry: JobEntry) -> None:
        if entry.entry_id in self._held:
            return
        job = asyncio.create_task(self._run_job(entry), name=f"job-{entry.task_id}")
        self._held[entry.entry_id] = job
        job.add_done_callback(lambda _: self._release(entry.entry_id))

    def _release(self, entry_id: str) -> None:
        self._held.pop(entry_id, None)
        self._slot_freed.set()

    # --- one job -------------------------------------------------------------------------------------------

    async def _run_job(self, entry: JobEntry) -> None:
        extra = {"task_id": entry.task_id}
        try:
            await self._process(entry)
        except asyncio.CancelledError:
            # Stopping: show the task as waiting again; another dispatcher (or this one, restarted) claims it.
            with contextlib.suppress(RedisError, asyncio.TimeoutError):
                problem = "its dispatcher stopped; it will be picked up again"
                await asyncio.wait_for(self._store.back_to_pending(entry.task_id, problem), 1.0)
            raise
        except RedisError as error:
            # Left unacknowledged: once this dispatcher stops refreshing it, it is claimed again.
            log.warning("job interrupted by a Redis error (%s); it will be claimed again", error, extra=extra)
        except Exception as error:
            log.exception("job failed inside the gateway", extra=extra)
            with contextlib.suppress(RedisError):  # if Redis is down, the job is claimed again later
                await self._fail(entry, f"internal gateway error: {type(error).__name__}: {error}")

    async def _process(self, entry: JobEntry) -> None:
        settings = self._settings
        record = await self._store.get(entry.task_id)
        if record is None or record.status.is_final:
            await self._store.acknowledge(entry.task_id, entry.entry_id)
            return
        if record.attempts >= settings.max_attempts:
            await self._fail(
                entry,
                _gave_up(
                    record.attempts, record.last_problem or "the dispatcher or face service stopped while working on it"
                ),
            )
            return
        image = await self._store.get_image(entry.task_id)
        if image is None:
            await self._fail(entry, "the uploaded image is no longer in Redis (it expired or Redis lost it)")
            return
        options = job_options_message(record.kind, record.options)

        while True:
            if not self._pool.available:
                down_since = self._pool.down_since or time.time()
                waiting_since = await self._store.back_to_pending(
                    entry.task_id, self._pool.describe_problem(), max(record.created_at, down_since)
                )
                if waiting_since is None:
                    await self._store.acknowledge(entry.task_id, entry.entry_id)
                    return
                deadline = waiting_since + settings.face_service_wait_seconds
                if not await self._pool.wait_available(deadline - time.time()):
                    await self._fail(
                        entry,
                        f"the face service stayed unreachable for {settings.face_service_wait_seconds:g} s "
                        f"(GATEWAY_FACE_SERVICE_WAIT_SECONDS): {self._pool.describe_problem()}",
                    )
                    return
            attempt = await self._store.start_attempt(entry.task_id, self.consumer)
            if attempt == 0:
                await self._store.acknowledge(entry.task_id, entry.entry_id)
                return
            if attempt == 1:
                STAGE_SECONDS.labels(stage="queue_wait").observe(max(time.time() - record.created_at, 0.0))
            sent_at = time.monotonic()
            try:
                outcome = await self._send_until_answered(entry.task_id, attempt, options, image)
                STAGE_SECONDS.labels(stage="face_service").observe(time.monotonic() - sent_at)
                break
            except (FaceServiceUnavailable, FaceJobTimeout) as problem:
                if attempt >= settings.max_attempts:
                    await self._fail(entry, _gave_up(attempt, str(problem)))
                    return
                log.warning("attempt %d unanswered: %s", attempt, problem, extra={"task_id": entry.task_id})
                if await self._store.back_to_pending(entry.task_id, str(problem)) is None:
                    await self._store.acknowledge(entry.task_id, entry.entry_id)
                    return
                await asyncio.sleep(0.1 * attempt)

        if outcome.error is not None:
            await self._fail(entry, f"{outcome.error.message} ({outcome.error.code.name})")
            return
        assert outcome.result is not None
        observe_face_timings(outcome.result.timings)
        result = stored_result(outcome.result)
        if await self._store.finish_success(entry.task_id, entry.entry_id, result, outcome.image):
            self._finished(entry.task_id, record.kind, TaskStatus.SUCCESS, record.created_at)
        log.info("task done", extra={"task_id": entry.task_id})

    async def _send_until_answered(self, task_id: str, attempt: int, options: pb.JobOptions, image: bytes) -> JobAnswer:
        """Send the job; a busy service is asked again with backoff, within the job timeout."""
        timeout = self._settings.face_job_timeout_seconds
        deadline = time.monotonic() + timeout
        delay = 0.1
        for send in itertools.count(1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FaceJobTimeout(f"the face service stayed busy for {timeout:g} s")
            outcome = await self._pool.process(f"{task_id}/{attempt}/{send}", options, image, remaining)
            if outcome.error is not None and outcome.error.code in _TRANSIENT_CODES:
                raise FaceServiceUnavailable(f"{outcome.error.message} ({outcome.error.code.name})")
            if outcome.error_code not in _BUSY_CODES:
                return outcome
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")  # for type checkers: the loop above only returns or raises

    async def _fail(self, entry: JobEntry, error: str) -> None:
        log.info("task failed: %s", error, extra={"task_id": entry.task_id})
        if await self._store.finish_failure(entry.task_id, entry.entry_id, error):
            record = await self._store.get_summary(entry.task_id)
            kind, created_at = record if record else (None, None)
            self._finished(entry.task_id, kind, TaskStatus.FAILURE, created_at)

    def _finished(self, task_id: str, kind: JobKind | None, status: TaskStatus, created_at: float | None) -> None:
        """After this dispatcher wrote the task's final state: count it and send its webhook, if any."""
        TASKS_FINISHED.labels(kind=kind.value if kind else "unknown", status=status.value).inc()
        if created_at:
            STAGE_SECONDS.labels(stage="total").observe(max(time.time() - created_at, 0.0))
        self._webhooks.task_finished(task_id)


def _gave_up(attempts: int, problem: str) -> str:
    return f"gave up after {attempts} attempts (GATEWAY_MAX_ATTEMPTS); last problem: {problem}"
