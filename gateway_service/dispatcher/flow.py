"""What every kind of task is to the dispatcher: a ``Flow``, one interface for all of them.

A flow loads its task's input once (``load``), then, on each attempt, runs the task's face-service jobs through
``send`` and returns the task's output or a refusal (``run``); when the task's final state is written it cleans up
after it (``ended``), and every minute or so it may sweep what expired tasks left (``upkeep``). Which flow runs
which kind of task is the one table in ``flows.task_flows``; the dispatcher (``consumer``) runs any flow and knows
no kind.

A job the face service does not answer (``FaceServiceUnavailable``, ``FaceJobTimeout``) is not the flow's to
handle: it leaves ``run`` as that exception, and the dispatcher retries the attempt. So does a media store that
does not answer (``MediaStoreUnavailable``, from ``load`` or ``run``): the dispatcher waits until the flow's
``unavailable`` is None, then loads or tries again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from faceblur_proto.framing import JobAnswer
from faceblur_proto.v1 import face_detection_pb2 as pb
from gateway_service.tasks.models import TaskRecord, TaskStatus

Inputs = TypeVar("Inputs")


class Send(Protocol):
    """Sends one face-service job and returns its answer, asking a busy service again within ``timeout`` seconds
    (None: GATEWAY_FACE_JOB_TIMEOUT_SECONDS)."""

    def __call__(
        self, options: pb.JobOptions, image: bytes = b"", timeout: float | None = None
    ) -> Awaitable[JobAnswer]: ...


@dataclass(frozen=True)
class TaskOutput:
    """A task's result: what its record keeps (see ``results.stored_result``), the returned image, and the face
    service's stage timings of each job it ran (for /metrics)."""

    result: dict
    image: bytes | None = None
    timings: tuple[pb.StageTimings, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """The task cannot be done as asked (no face, an unknown gallery, its input gone...): it ends FAILURE with
    ``reason``."""

    reason: str


class TaskRefused(Exception):
    """Raised inside a flow where it finds the task cannot be done; ``Flow.run`` returns it as a ``Refusal``."""


class Flow(ABC, Generic[Inputs]):
    """One kind of task, start to finish."""

    @abstractmethod
    async def load(self, task: TaskRecord) -> Inputs | Refusal:
        """The task's input, read once before its first attempt; a ``Refusal`` if it is gone."""

    async def run(self, task: TaskRecord, inputs: Inputs, send: Send) -> TaskOutput | Refusal:
        """One attempt: the task's jobs and its output, or why it cannot be done."""
        try:
            return await self.output(task, inputs, send)
        except TaskRefused as refused:
            return Refusal(str(refused))

    @abstractmethod
    async def output(self, task: TaskRecord, inputs: Inputs, send: Send) -> TaskOutput:
        """``run``'s work; raises ``TaskRefused`` where the task cannot be done."""

    async def unavailable(self) -> str | None:
        """Why the flow cannot run an attempt now though a face service could (a store it reads and writes that
        does not answer), or None. Asked before loading and before each attempt; the dispatcher waits (the task
        PENDING with this problem) while it is not None, up to GATEWAY_MEDIA_WAIT_SECONDS. None by default, with
        no I/O: image flows keep nothing outside Redis."""
        return None

    async def ended(self, task_id: str, status: TaskStatus) -> None:
        """Called once this dispatcher has written the task's final ``status``: clean up what it left outside
        Redis. Nothing, unless the flow keeps files."""

    async def upkeep(self) -> None:
        """Called every minute or so by each dispatcher: remove what expired tasks left. Nothing by default."""


async def answer(
    send: Send, options: pb.JobOptions, image: bytes = b"", *, doing: str = "", timeout: float | None = None
) -> JobAnswer:
    """The job's answer; a job the face service refused raises ``TaskRefused`` with its reason (after ``doing``:
    what the job was for, when the task runs several of a kind)."""
    reply = await send(options, image, timeout)
    if reply.error is not None:
        reason = f"{reply.error.message} ({reply.error.code.name})"
        raise TaskRefused(f"{doing}: {reason}" if doing else reason)
    assert reply.result is not None
    return reply
