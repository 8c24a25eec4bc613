"""A fixed set of worker threads, each with its own model instance, fed by a bounded queue.

LiteRT interpreters are not thread-safe and each runtime releases the GIL while it computes, so one model
instance per thread keeps every core busy without locks. The queue bound turns overload into an immediate,
explicit refusal instead of unbounded memory.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Model = TypeVar("Model")
Result = TypeVar("Result")


class Overloaded(RuntimeError):
    pass


@dataclass
class _Work(Generic[Model]):
    function: Callable[[Model], object]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued_at: float


class WorkerPool(Generic[Model]):
    def __init__(self, load_model: Callable[[], Model], workers: int, queue_size: int):
        self.workers = workers
        self.queue_size = queue_size
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._pending = 0  # queued + running; only touched on the event loop thread
        self._idle = asyncio.Event()
        self._idle.set()
        self._threads: list[threading.Thread] = []
        ready = threading.Barrier(workers + 1)
        errors: list[BaseException] = []
        for index in range(workers):
            thread = threading.Thread(
                target=self._serve, args=(load_model, ready, errors), name=f"face-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        ready.wait()
        if errors:
            self.close()
            raise errors[0]

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, function: Callable[[Model], Result]) -> tuple[Result, float]:
        """Run `function(model)` on a worker; returns its result and the seconds it waited in the queue."""
        if self._pending >= self.workers + self.queue_size:
            raise Overloaded(
                f"server busy: {self._pending} jobs already queued or running "
                f"(FACE_WORKERS={self.workers}, FACE_QUEUE_SIZE={self.queue_size}); retry later"
            )
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        self._pending += 1
        self._idle.clear()
        try:
            self._queue.put(_Work(function, future, loop, time.perf_counter()))
            return await future
        finally:
            self._pending -= 1
            if self._pending == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def _serve(self, load_model: Callable[[], Model], ready: threading.Barrier, errors: list) -> None:
        try:
            model = load_model()
        except BaseException as exc:  # reported to the constructor, which re-raises it
            errors.append(exc)
            ready.wait()
            return
        ready.wait()
        while (work := self._queue.get()) is not None:
            waited = time.perf_counter() - work.enqueued_at
            try:
                outcome = (work.function(model), waited)
                work.loop.call_soon_threadsafe(_settle, work.future, outcome, None)
            except BaseException as exc:
                work.loop.call_soon_threadsafe(_settle, work.future, None, exc)


def _settle(future: asyncio.Future, result: object, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
