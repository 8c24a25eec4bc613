"""Long-lived gRPC streams to the face services: one ``ProcessJobs`` stream per address, many jobs on each.

A ``FaceConnection`` keeps its stream open, reopening it (with gRPC's reconnect backoff) whenever the service
goes away; jobs that were on a broken stream fail with ``FaceServiceUnavailable`` so the dispatcher can retry
them. ``FacePool`` spreads jobs over the connected services, least loaded first.

The pool follows ``core.face_addresses.FaceReplicas``: a replica that appears under a ``dns:///name:port`` gets
a connection, and one that vanishes is dropped like a lost service: its stream is closed and its jobs in flight
fail with ``FaceServiceUnavailable``, so the dispatcher retries them on the others.

Each connection also asks its service how many worker processes it runs (``GetServerInfo.workers``) every time
the stream opens, so the dispatcher's in-flight limit follows replicas joining, leaving and restarting with
another ``FACE_WORKERS`` (``capacity.in_flight_limit``).

One stream per address does not cap throughput as cores grow: jobs are interleaved on it in 1 MiB chunks,
written by one coroutine at a time, and the images are small next to what one HTTP/2 stream carries (a
16-core service at ~120 img/s of ~0.2 MiB photos is ~25 MiB/s each way).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable

import grpc

from faceblur_proto.framing import AnswerAssembler, JobAnswer, job_requests
from faceblur_proto.v1 import face_detection_pb2 as pb
from faceblur_proto.v1 import face_detection_pb2_grpc as pb_grpc
from gateway_service.core.face_addresses import FaceReplicas, ReplicaChange, replica_change
from gateway_service.core.grpc_channel import CHANNEL_OPTIONS
from gateway_service.metrics import FACE_SERVICE_CONNECTED, FACE_SERVICE_JOBS, face_service_gone

log = logging.getLogger(__name__)

_SERVER_INFO_TIMEOUT_SECONDS = 5.0


async def wait_until(condition: Callable[[], bool], changed: asyncio.Event, timeout: float) -> bool:
    """Whether ``condition`` holds within ``timeout`` seconds, re-checked each time ``changed`` is set."""
    deadline = time.monotonic() + timeout
    while not condition() and (remaining := deadline - time.monotonic()) > 0:
        changed.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), remaining)
    return condition()


class FaceServiceUnavailable(Exception):
    """No face service answered the job: none is connected, or the stream broke before the answer came."""


class FaceJobTimeout(Exception):
    """The face service took longer than the job timeout to answer."""


class FaceConnection:
    """One face service address: a channel and the one ProcessJobs stream on it."""

    def __init__(self, address: str, on_change: asyncio.Event) -> None:
        self.address = address
        self._channel = grpc.aio.insecure_channel(address, options=list(CHANNEL_OPTIONS))
        self._stub = pb_grpc.FaceDetectionStub(self._channel)
        self._call: grpc.aio.StreamStreamCall | None = None
        self._pending: dict[str, asyncio.Future[JobAnswer]] = {}
        self._write_lock = asyncio.Lock()
        self._on_change = on_change
        self.down_since: float | None = time.time()
        self._last_problem = "never connected"
        self._closing = False
        self.workers: int | None = None  # as the service reported (GetServerInfo), for the stream now open
        self._connected_gauge = FACE_SERVICE_CONNECTED.labels(address=address)
        self._connected_gauge.set(0)

    @property
    def connected(self) -> bool:
        return self._call is not None

    def describe(self) -> str:
        """Where the connection stands, for error messages: address, channel state, last problem."""
        state = self._channel.get_state(try_to_connect=False).name
        return f"face service {self.address} is {state} ({self._last_problem})"

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """Keep a stream open until cancelled."""
        while True:
            await self._channel.channel_ready()
            call = self._stub.ProcessJobs()
            self._call = call
            self.down_since = None
            self._connected_gauge.set(1)
            self._on_change.set()
            log.info("face service %s connected", self.address)
            learning = asyncio.create_task(self._learn_workers(), name=f"face-info-{self.address}")
            try:
                problem = await self._read_responses(call)
            except grpc.aio.AioRpcError as error:
                problem = f"{error.code().name}: {error.details()}"
            except asyncio.CancelledError:
                if self._closing:
                    raise
                # gRPC cancels the whole call when a write on it is cancelled: this stream is gone, not the
                # connection, which opens a new one.
                problem = "the stream was cancelled"
            finally:
                self._call = None
                self._connected_gauge.set(0)
                learning.cancel()
                self.workers = None
                call.cancel()
            self.down_since = time.time()
            self._last_problem = f"stream lost: {problem}"
            log.warning("lost the stream to face service %s: %s", self.address, problem)
            self._fail_pending(FaceServiceUnavailable(f"face service {self.address}: stream lost: {problem}"))
            await asyncio.sleep(0.2)

    async def _learn_workers(self) -> None:
        """Ask the service how many jobs it runs at once; unknown (None) if it does not say."""
        try:
            info = await self._stub.GetServerInfo(pb.ServerInfoRequest(), timeout=_SERVER_INFO_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as error:
            log.warning("face service %s did not say its workers (%s)", self.address, error.code().name)
            return
        self.workers = info.workers or None
        log.info("face service %s runs %s workers", self.address, self.workers or "an unknown number of")
        self._on_change.set()

    def closing(self) -> None:
        """The client is shutting down: a cancelled stream is then the end, not a reason to reconnect."""
        self._closing = True

    async def close(self, reason: str = "client shutting down") -> None:
        """Close the channel; jobs still waiting for an answer fail with ``FaceServiceUnavailable(reason)``."""
        self._closing = True
        self._last_problem = reason
        self._fail_pending(FaceServiceUnavailable(f"face service {self.address}: {reason}"))
        await self._channel.close()

    async def process(self, job_id: str, options: pb.JobOptions, image: bytes, timeout: float) -> JobAnswer:
        call = self._call
        if call is None:
            raise FaceServiceUnavailable(self.describe())
        answer = asyncio.get_running_loop().create_future()
        self._pending[job_id] = answer
        try:
            # Shielded: a job cancelled half-way through its upload (its task gave up) must not cancel the write,
            # which would cancel the stream under every other job on it.
            await asyncio.shield(self._write(call, job_id, options, image))
            FACE_SERVICE_JOBS.labels(address=self.address).inc()
            return await asyncio.wait_for(answer, timeout)
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as error:
            raise FaceServiceUnavailable(
                f"face service {self.address}: stream closed while sending: {error}"
            ) from error
        except asyncio.TimeoutError:
            raise FaceJobTimeout(f"face service {self.address} gave no answer within {timeout:g} s") from None
        finally:
            self._pending.pop(job_id, None)

    async def _write(self, call: grpc.aio.StreamStreamCall, job_id: str, options: pb.JobOptions, image: bytes) -> None:
        async with self._write_lock:
            for request in job_requests(job_id, options, image):
                await call.write(request)

    async def _read_responses(self, call: grpc.aio.StreamStreamCall) -> str:
        assembler = AnswerAssembler()
        while True:
            response = await call.read()
            if response is grpc.aio.EOF:
                return "the service closed the stream"
            waiting = self._pending.get(response.job_id)
            if waiting is None or waiting.done():
                assembler.forget(response.job_id)  # a job that timed out or was abandoned
                continue
            answer = assembler.add(response)
            if answer is not None:
                waiting.set_result(answer)

    def _fail_pending(self, error: Exception) -> None:
        for waiting in self._pending.values():
            if not waiting.done():
                waiting.set_exception(error)


class FacePool:
    """The face services of ``replicas``, one connection each, following them as they change; each job goes to
    the connected one with the fewest jobs in flight."""

    def __init__(self, replicas: FaceReplicas) -> None:
        self._replicas = replicas
        self._changed = asyncio.Event()
        self.connections: list[FaceConnection] = []
        self._tasks: dict[FaceConnection, asyncio.Task[None]] = {}
        self._tie_breaker = itertools.count()
        self._empty_since = time.time()

    def start(self) -> None:
        """Connect to the replicas known now, and follow the changes from here on."""
        self._replicas.subscribe(self._follow)
        for address in self._replicas.addresses:
            self._add(address)

    async def close(self) -> None:
        self._replicas.unsubscribe(self._follow)
        for connection in self.connections:
            connection.closing()
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        for connection in self.connections:
            await connection.close()

    async def _follow(self, change: ReplicaChange) -> None:
        """The replicas changed: connect to new ones, drop those gone (their jobs in flight fail and are retried)."""
        now = replica_change([c.address for c in self.connections], self._replicas.addresses)
        for address in now.added:
            self._add(address)
        for address in now.removed:
            await self._drop(address)

    def _add(self, address: str) -> None:
        connection = FaceConnection(address, self._changed)
        self.connections.append(connection)
        self._tasks[connection] = asyncio.create_task(connection.run(), name=f"face-{address}")
        self._changed.set()

    async def _drop(self, address: str) -> None:
        connection = next(c for c in self.connections if c.address == address)
        self.connections.remove(connection)  # no new job goes to it from here on
        if not self.connections:
            self._empty_since = time.time()
        connection.closing()
        task = self._tasks.pop(connection)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await connection.close("dropped: its dns: name no longer resolves to it")
        face_service_gone(address)
        log.info("face service %s dropped: no longer among the resolved face services", address)
        self._changed.set()

    @property
    def available(self) -> bool:
        return any(c.connected for c in self.connections)

    @property
    def down_since(self) -> float | None:
        """When the last connected service went away; None while any is connected."""
        if self.available:
            return None
        return max((c.down_since or 0.0 for c in self.connections), default=self._empty_since)

    def describe_problem(self) -> str:
        problems = [c.describe() for c in self.connections]
        problems += [f"{name} {problem}" for name, problem in self._replicas.unresolved().items()]
        return "; ".join(problems) or "no face service address"

    @property
    def connected_workers(self) -> list[int | None]:
        """Each connected service's workers (None: not known yet)."""
        return [c.workers for c in self.connections if c.connected]

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self.connections)

    async def wait_available(self, timeout: float) -> bool:
        return await wait_until(lambda: self.available, self._changed, timeout)

    async def process(self, job_id: str, options: pb.JobOptions, image: bytes, timeout: float) -> JobAnswer:
        connected = [c for c in self.connections if c.connected]
        if not connected:
            raise FaceServiceUnavailable(self.describe_problem())
        turn = next(self._tie_breaker)
        count = len(self.connections)
        # Least loaded first; the rotating tie-breaker spreads equal loads round-robin.
        chosen = min(connected, key=lambda c: (c.in_flight, (self.connections.index(c) - turn) % count))
        return await chosen.process(job_id, options, image, timeout)
