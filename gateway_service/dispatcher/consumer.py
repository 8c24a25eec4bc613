"""The dispatcher: moves jobs from the Redis stream to the face services and their outcomes back to Redis.

Each dispatcher is one consumer of the stream's consumer group, with a unique name. It holds at most
``in_flight_limit`` jobs: by default enough to keep every worker of the connected face services busy
(``capacity.py``), else GATEWAY_MAX_IN_FLIGHT. While it holds them it refreshes their idle time, and jobs left
idle longer than ``claim_idle_seconds`` (their dispatcher died) are claimed by whichever dispatcher looks next.
A job is only acknowledged together with its task's final status, so no accepted task is lost or left RUNNING.

One job goes through named steps (``_process``): load its task and, through the task kind's flow, its input; wait
for a face service (and for what the flow needs besides: a video's media store); one attempt (retried while
unanswered, up to GATEWAY_MAX_ATTEMPTS). Each step returns either
what comes next or how the job ends (``JobEnd``: the task's output, a refusal, or nothing left to do), and
``_settle`` acts on that end. What a kind of task does is its flow's (``flows.task_flows``, ``flow.Flow``): this
module knows no task kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass

import grpc
from redis.exceptions import RedisError

from faceblur_proto.framing import JobAnswer
from faceblur_proto.media_store import MediaStoreUnavailable
from faceblur_proto.v1 import face_detection_pb2 as pb
from gateway_service.core.config import Settings
from gateway_service.core.face_addresses import FaceReplicas
from gateway_service.core.shutdown import cancel_all, drain
from gateway_service.dispatcher.capacity import in_flight_limit
from gateway_service.dispatcher.face_client import FaceJobTimeout, FacePool, FaceServiceUnavailable
from gateway_service.dispatcher.flow import Flow, Refusal, TaskOutput
from gateway_service.dispatcher.flows import task_flows
from gateway_service.galleries.store import GalleryStore
from gateway_service.metrics import STAGE_SECONDS, TASKS_FINISHED, observe_dispatcher, observe_face_timings
from gateway_service.tasks.models import TaskKind, TaskRecord, TaskStatus
from gateway_service.tasks.queue import JobEntry, JobQueue, unique_consumer_name
from gateway_service.tasks.store import TaskStore
from gateway_service.webhooks.delivery import WebhookSender

log = logging.getLogger(__name__)

# Job errors that say "not now" rather than "not this image".
_TRANSIENT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED}
_BUSY_CODES = {grpc.StatusCode.RESOURCE_EXHAUSTED}
_READ_BLOCK_MS = 2000
_LIMIT_RECHECK_SECONDS = 0.5  # a full dispatcher looks again this often whether its limit has grown
_FORGET_CONSUMERS_AFTER_SECONDS = 3600.0


class Dispatcher:
    """Given the task store; built here and only here. ``queue`` defaults to a consumer of the job stream under a
    new unique name, ``pool`` to gRPC streams to the face services of ``replicas`` (a stand-in with the same
    methods serves in tests), ``replicas`` to the configured face services, resolved and followed by this
    dispatcher (the gateway passes the ones its readiness checks also read), ``galleries`` to the store's."""

    def __init__(
        self,
        settings: Settings,
        store: TaskStore,
        queue: JobQueue | None = None,
        pool: FacePool | None = None,
        galleries: GalleryStore | None = None,
        replicas: FaceReplicas | None = None,
    ) -> None:
        self._settings = settings
        self._store = store
        self._queue = queue or JobQueue(store.redis, store.keys, unique_consumer_name())
        self._own_replicas: FaceReplicas | None = None  # made here: this dispatcher starts and stops them
        if pool is None:
            if replicas is None:
                replicas = self._own_replicas = FaceReplicas.from_settings(settings)
            pool = FacePool(replicas)
        self._pool = pool
        galleries = galleries or GalleryStore(store.redis, store.keys)
        self._flows = task_flows(settings, store, galleries, self._connected_workers)
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

    @property
    def in_flight(self) -> int:
        """Jobs this dispatcher holds now."""
        return len(self._held)

    @property
    def in_flight_limit(self) -> int:
        """The most jobs it holds: GATEWAY_MAX_IN_FLIGHT if set, else what the connected face services run."""
        return in_flight_limit(self._settings.max_in_flight, self._pool.connected_workers)

    async def start(self) -> None:
        if self._own_replicas is not None:
            await self._own_replicas.start()
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
        await cancel_all(self._loops)
        await drain(list(self._held.values()), grace_seconds)
        await self._pool.close()
        if self._own_replicas is not None:
            await self._own_replicas.close()
        await self._webhooks.close(grace_seconds)
        log.info("dispatcher %s stopped", self.consumer)

    # --- loops ---------------------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        await self._retry_redis(self._queue.ensure_group)
        self._group_ready.set()
        failures = 0
        while True:
            free = self._free_slots()
            if free <= 0:
                self._slot_freed.clear()
                with contextlib.suppress(asyncio.TimeoutError):  # the limit may grow: a face service joined
                    await asyncio.wait_for(self._slot_freed.wait(), _LIMIT_RECHECK_SECONDS)
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
        """Keep held jobs ours, claim abandoned ones; every minute, the flows' upkeep and forgetting long-dead
        consumers."""
        interval = max(self._settings.claim_idle_seconds / 3, 0.05)
        min_idle_ms = int(self._settings.claim_idle_seconds * 1000)
        last_forget = 0.0
        await self._group_ready.wait()
        while True:
            try:
                await self._refresh_held()
                free = self._free_slots()
                for entry in await self._queue.claim_abandoned(min_idle_ms, free, exclude=set(self._held)):
                    log.info("claimed abandoned job (delivery %d)", entry.deliveries, extra={"task_id": entry.task_id})
                    self._take(entry)
                if time.monotonic() - last_forget > 60:
                    last_forget = time.monotonic()
                    await self._flows.upkeep()
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

    def _free_slots(self) -> int:
        limit = self.in_flight_limit
        self._observe()
        return limit - self.in_flight

    def _connected_workers(self) -> int:
        return sum(workers or 0 for workers in self._pool.connected_workers)

    def _observe(self) -> None:
        observe_dispatcher(self.in_flight, self.in_flight_limit, self._connected_workers())

    def _take(self, entry: JobEntry) -> None:
        if entry.entry_id in self._held:
            return
        job = asyncio.create_task(self._run_job(entry), name=f"job-{entry.task_id}")
        self._held[entry.entry_id] = job
        job.add_done_callback(lambda _: self._release(entry.entry_id))
        self._observe()

    def _release(self, entry_id: str) -> None:
        self._held.pop(entry_id, None)
        self._observe()
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
                await self._settle(entry, Refusal(f"internal gateway error: {type(error).__name__}: {error}"))

    async def _process(self, entry: JobEntry) -> None:
        """The job's steps, each returning what comes next or how the job ends; then that end is settled."""
        record = await self._store.get(entry.task_id)
        if record is None or record.status.is_final:
            end: JobEnd = DROPPED
        else:
            end = await self._work(entry, record)
        await self._settle(entry, end, record)

    async def _work(self, entry: JobEntry, record: TaskRecord) -> JobEnd:
        """A task not yet final: its input, then attempts until one is answered. A job that its dispatchers gave
        up on too often (a poison job) ends here."""
        if record.attempts >= self._settings.max_attempts:
            problem = record.last_problem or "the dispatcher or face service stopped while working on it"
            return Refusal(_gave_up(record.attempts, problem))
        flow = self._flows[record.kind]
        inputs = await self._load(entry, record, flow)
        if isinstance(inputs, (Refusal, _Dropped)):
            return inputs
        while True:
            waited = await self._wait_for_face_service(entry, record)
            if waited is None:
                waited = await self._wait_for_flow(entry, flow)
            if waited is not None:
                return waited
            attempt = await self._store.start_attempt(entry.task_id, self.consumer)
            if attempt == 0:  # finished meanwhile (by another dispatcher) or gone
                return DROPPED
            try:
                return await self._attempt(entry, record, attempt, flow, inputs)
            except (FaceServiceUnavailable, FaceJobTimeout, MediaStoreUnavailable) as problem:
                retry = await self._after_unanswered(entry, attempt, str(problem))
                if retry is not None:
                    return retry

    async def _load(self, entry: JobEntry, record: TaskRecord, flow: Flow) -> object:
        """The task's input through its flow (or a ``Refusal``), once the flow's stores answer: a store that stops
        answering while it is read is waited for again, within GATEWAY_MEDIA_WAIT_SECONDS of the first failure."""
        first_failure: float | None = None
        while True:
            waited = await self._wait_for_flow(entry, flow)
            if waited is not None:
                return waited
            try:
                return await flow.load(record)
            except MediaStoreUnavailable as problem:
                first_failure = first_failure or time.monotonic()
                if time.monotonic() - first_failure >= self._settings.media_wait_seconds:
                    return Refusal(_store_gave_up(self._settings.media_wait_seconds, str(problem)))
                log.warning("loading the task's input failed: %s", problem, extra={"task_id": entry.task_id})
                await asyncio.sleep(1.0)

    async def _wait_for_flow(self, entry: JobEntry, flow: Flow) -> JobEnd | None:
        """None once the flow can run (``Flow.unavailable``: at once for image flows, a video's media store must
        answer); meanwhile the task shows PENDING with the problem, and fails after GATEWAY_MEDIA_WAIT_SECONDS."""
        problem = await flow.unavailable()
        if problem is None:
            return None
        wait_seconds = self._settings.media_wait_seconds
        log.warning("waiting for the media store: %s", problem, extra={"task_id": entry.task_id})
        if await self._store.back_to_pending(entry.task_id, problem) is None:
            return DROPPED
        deadline = time.monotonic() + wait_seconds
        delay = 0.5
        while problem is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Refusal(_store_gave_up(wait_seconds, problem))
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)
            problem = await flow.unavailable()
        return None

    async def _wait_for_face_service(self, entry: JobEntry, record: TaskRecord) -> JobEnd | None:
        """None once a face service is connected; the task shows PENDING with the reason meanwhile, and fails
        after GATEWAY_FACE_SERVICE_WAIT_SECONDS (counted from when it started waiting, across retries)."""
        if self._pool.available:
            return None
        wait_seconds = self._settings.face_service_wait_seconds
        down_since = self._pool.down_since or time.time()
        waiting_since = await self._store.back_to_pending(
            entry.task_id, self._pool.describe_problem(), max(record.created_at, down_since)
        )
        if waiting_since is None:
            return DROPPED
        if not await self._pool.wait_available(waiting_since + wait_seconds - time.time()):
            return Refusal(
                f"the face service stayed unreachable for {wait_seconds:g} s "
                f"(GATEWAY_FACE_SERVICE_WAIT_SECONDS): {self._pool.describe_problem()}"
            )
        return None

    async def _attempt(
        self, entry: JobEntry, record: TaskRecord, attempt: int, flow: Flow, inputs: object
    ) -> TaskOutput | Refusal:
        """One attempt: the task's face-service jobs, each sent until answered (busy answers are asked again)."""
        if attempt == 1:
            STAGE_SECONDS.labels(stage="queue_wait").observe(max(time.time() - record.created_at, 0.0))
        jobs_sent = itertools.count(1)

        async def send(options: pb.JobOptions, image: bytes = b"", timeout: float | None = None) -> JobAnswer:
            number = next(jobs_sent)  # the first job of an attempt is <task>/<attempt>/<try>, later ones .2, .3...
            label = f"{attempt}" if number == 1 else f"{attempt}.{number}"
            if timeout is None:
                timeout = self._settings.face_job_timeout_seconds
            return await self._send_until_answered(f"{entry.task_id}/{label}", options, image, timeout)

        sent_at = time.monotonic()
        output = await flow.run(record, inputs, send)
        STAGE_SECONDS.labels(stage="face_service").observe(time.monotonic() - sent_at)
        return output

    async def _after_unanswered(self, entry: JobEntry, attempt: int, problem: str) -> JobEnd | None:
        """After an unanswered attempt: fail at the attempt limit, else show PENDING, back off a little and return
        None (to try again)."""
        if attempt >= self._settings.max_attempts:
            return Refusal(_gave_up(attempt, problem))
        log.warning("attempt %d unanswered: %s", attempt, problem, extra={"task_id": entry.task_id})
        if await self._store.back_to_pending(entry.task_id, problem) is None:
            return DROPPED
        await asyncio.sleep(0.1 * attempt)
        return None

    async def _send_until_answered(
        self, job_id: str, options: pb.JobOptions, image: bytes, timeout: float
    ) -> JobAnswer:
        """Send the job; a busy service is asked again with backoff, within ``timeout``."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        for send in itertools.count(1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FaceJobTimeout(f"the face service stayed busy for {timeout:g} s")
            answer = await self._pool.process(f"{job_id}/{send}", options, image, remaining)
            if answer.error is not None and answer.error.code in _TRANSIENT_CODES:
                raise FaceServiceUnavailable(f"{answer.error.message} ({answer.error.code.name})")
            if answer.error_code not in _BUSY_CODES:
                return answer
            await asyncio.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")  # for type checkers: the loop above only returns or raises

    async def _settle(self, entry: JobEntry, end: JobEnd, record: TaskRecord | None = None) -> None:
        """Act on how the job ended: drop it, or store the task's final state (SUCCESS with the result, FAILURE
        with the reason) with the acknowledgement; whichever dispatcher wrote that state counts the task, sends
        its webhook and lets its flow clean up."""
        if isinstance(end, _Dropped):
            await self._store.acknowledge(entry.task_id, entry.entry_id)
            return
        if isinstance(end, TaskOutput):
            for timings in end.timings:
                observe_face_timings(timings)
            status = TaskStatus.SUCCESS
            wrote = await self._store.finish_success(entry.task_id, entry.entry_id, end.result, end.image)
        else:
            log.info("task failed: %s", end.reason, extra={"task_id": entry.task_id})
            status = TaskStatus.FAILURE
            wrote = await self._store.finish_failure(entry.task_id, entry.entry_id, end.reason)
        if wrote:
            summary = (record.kind, record.created_at) if record else await self._store.get_summary(entry.task_id)
            kind, created_at = summary or (None, None)
            self._finished(entry.task_id, kind, status, created_at)
            if kind is not None:
                await self._flows[kind].ended(entry.task_id, status)
        if status is TaskStatus.SUCCESS:
            log.info("task done", extra={"task_id": entry.task_id})

    def _finished(self, task_id: str, kind: TaskKind | None, status: TaskStatus, created_at: float | None) -> None:
        """After this dispatcher wrote the task's final state: count it and send its webhook, if any."""
        TASKS_FINISHED.labels(kind=kind.value if kind else "unknown", status=status.value).inc()
        if created_at:
            STAGE_SECONDS.labels(stage="total").observe(max(time.time() - created_at, 0.0))
        self._webhooks.task_finished(task_id)


@dataclass(frozen=True)
class _Dropped:
    """The task is already finished (by another dispatcher) or gone: the job is only acknowledged."""


DROPPED = _Dropped()
JobEnd = TaskOutput | Refusal | _Dropped
"""How a job ends: the task's output (SUCCESS), a refusal (FAILURE with its reason), or nothing to write."""


def _gave_up(attempts: int, problem: str) -> str:
    return f"gave up after {attempts} attempts (GATEWAY_MAX_ATTEMPTS); last problem: {problem}"


def _store_gave_up(seconds: float, problem: str) -> str:
    return f"the media store did not answer for {seconds:g} s (GATEWAY_MEDIA_WAIT_SECONDS): {problem}"
