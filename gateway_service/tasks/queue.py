"""The consumer-group side of the job stream: read new jobs, refresh held ones, claim abandoned ones.

Works with Redis 6.0 and later: abandoned jobs are found with XPENDING and taken over with XCLAIM (whose
min-idle-time makes the takeover atomic), not XAUTOCLAIM, which needs Redis 6.2.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from gateway_service.tasks.keys import RedisKeys


@dataclass(frozen=True)
class JobEntry:
    entry_id: str
    task_id: str
    deliveries: int = 1


_PENDING_PAGE = 200


def unique_consumer_name() -> str:
    """hostname-pid-random: unique per dispatcher process, readable in XINFO CONSUMERS."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class JobQueue:
    def __init__(self, redis: Redis, keys: RedisKeys, consumer: str) -> None:
        self._redis = redis
        self._stream = keys.job_stream
        self._group = keys.dispatcher_group
        self.consumer = consumer

    async def ensure_group(self) -> None:
        """Create the consumer group (and stream) if missing; it starts at 0 so no queued job is skipped."""
        try:
            await self._redis.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read_new(self, count: int, block_ms: int) -> list[JobEntry]:
        try:
            reply = await self._redis.xreadgroup(
                self._group, self.consumer, {self._stream: ">"}, count=count, block=block_ms
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            await self.ensure_group()  # Redis lost its data (no persistence) or the stream was deleted
            return []
        entries: list[JobEntry] = []
        for _stream, messages in reply or []:
            for entry_id, fields in messages:
                entries.append(_entry(entry_id, fields, deliveries=1))
        return entries

    async def claim_abandoned(self, min_idle_ms: int, count: int, exclude: Collection[str] = ()) -> list[JobEntry]:
        """Take over up to ``count`` jobs that other (or earlier) consumers have held idle for ``min_idle_ms``."""
        if count <= 0:
            return []
        candidates: list[dict] = []
        start = "-"
        while len(candidates) < count:
            page = await self._redis.xpending_range(self._stream, self._group, start, "+", _PENDING_PAGE)
            candidates += [
                p for p in page if p["time_since_delivered"] >= min_idle_ms and _text(p["message_id"]) not in exclude
            ]
            if len(page) < _PENDING_PAGE:
                break
            start = _next_id(_text(page[-1]["message_id"]))
        candidates = candidates[:count]
        if not candidates:
            return []
        deliveries = {_text(p["message_id"]): int(p["times_delivered"]) + 1 for p in candidates}
        claimed = await self._redis.xclaim(
            self._stream, self._group, self.consumer, min_idle_ms, [_text(p["message_id"]) for p in candidates]
        )
        entries = []
        for entry_id, fields in claimed:
            entry_id = _text(entry_id)
            if not fields:  # the entry was deleted from the stream but not acknowledged
                await self._redis.xack(self._stream, self._group, entry_id)
                continue
            entries.append(_entry(entry_id, fields, deliveries=deliveries.get(entry_id, 1)))
        return entries

    async def owned_entry_ids(self, entry_ids: Collection[str]) -> list[str]:
        """Those of ``entry_ids`` that this consumer still owns (another may have claimed some)."""
        if not entry_ids:
            return []
        wanted = set(entry_ids)
        pending = await self._redis.xpending_range(
            self._stream, self._group, "-", "+", len(wanted) + 100, consumername=self.consumer
        )
        return [entry_id for p in pending if (entry_id := _text(p["message_id"])) in wanted]

    async def refresh(self, entry_ids: Collection[str]) -> None:
        """Reset the idle time of jobs this consumer still works on, so no one else claims them."""
        if entry_ids:
            await self._redis.xclaim(self._stream, self._group, self.consumer, 0, list(entry_ids), justid=True)

    async def remove_idle_consumers(self, min_idle_ms: int) -> int:
        """Forget consumers (dead dispatchers) that hold no jobs and have been idle for ``min_idle_ms``."""
        removed = 0
        for info in await self._redis.xinfo_consumers(self._stream, self._group):
            name = _text(info["name"])
            if name != self.consumer and int(info["pending"]) == 0 and int(info["idle"]) >= min_idle_ms:
                await self._redis.xgroup_delconsumer(self._stream, self._group, name)
                removed += 1
        return removed


def _next_id(entry_id: str) -> str:
    """The smallest stream id after ``entry_id`` (Redis 6.0 has no exclusive "(id" ranges)."""
    milliseconds, sequence = entry_id.split("-")
    return f"{milliseconds}-{int(sequence) + 1}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _entry(entry_id: bytes | str, fields: dict, deliveries: int) -> JobEntry:
    task_id = fields.get(b"task_id", fields.get("task_id", b""))
    return JobEntry(entry_id=_text(entry_id), task_id=_text(task_id), deliveries=deliveries)
