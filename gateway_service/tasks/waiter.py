"""Wake requests waiting for a task the moment it finishes.

One pub/sub connection per gateway process listens on the pattern of all "task done" channels and sets the
event of whoever waits for that task. If pub/sub is down, waiters still re-read their task every
``poll_seconds``, so waiting degrades to slow polling instead of hanging.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway_service.core.shutdown import cancel_all
from gateway_service.tasks.keys import RedisKeys

log = logging.getLogger(__name__)


@dataclass(eq=False)
class CompletionNotifier:
    """Sets the events of the requests waiting for a task (``watch``) when it finishes; ``start`` it first."""

    redis: Redis
    keys: RedisKeys
    listening: bool = field(default=False, init=False)
    _waiters: dict[str, set[asyncio.Event]] = field(default_factory=lambda: defaultdict(set), init=False, repr=False)
    _listener: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="completion-notifier")

    async def stop(self) -> None:
        if self._listener is not None:
            await cancel_all([self._listener])

    @asynccontextmanager
    async def watch(self, task_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set when ``task_id`` finishes; register it before reading the task to miss nothing."""
        event = asyncio.Event()
        self._waiters[task_id].add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(task_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[task_id]

    async def _listen(self) -> None:
        delay = 0.2
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(self.keys.done_channel_pattern)
                self.listening = True
                delay = 0.2
                # Whatever finished while we were not listening: wake everyone to re-read.
                self._wake_all()
                async for message in pubsub.listen():
                    if message["type"] == "pmessage":
                        channel = message["channel"]
                        if isinstance(channel, bytes):
                            channel = channel.decode()
                        self._wake(self.keys.task_id_from_done_channel(channel))
            except RedisError as error:
                log.warning("task notifications interrupted (%s); waiting requests poll until they resume", error)
            finally:
                self.listening = False
                await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _wake(self, task_id: str) -> None:
        for event in self._waiters.get(task_id, ()):
            event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()
