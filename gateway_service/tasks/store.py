"""The task store: one Redis hash per task, the uploaded image under its own key, and the job stream entry.

Every change of status is one atomic step in Redis (a MULTI or a Lua script, which Redis runs as one
transaction), so readers never see a half-written task: the result lands, the image is deleted, the job is
acknowledged and waiters are notified together. A task that is already SUCCESS or FAILURE is never changed
again, so a job that two dispatchers ended up running (after a reclaim) keeps the first outcome.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from gateway_service.tasks.keys import RedisKeys
from gateway_service.tasks.models import TaskKind, TaskRecord, TaskStatus, WebhookStatus, record_from_hash

if TYPE_CHECKING:
    from gateway_service.core.config import Settings

_NOT_FINAL = "local s = redis.call('HGET', KEYS[1], 'status')\nif not s or s == 'SUCCESS' or s == 'FAILURE' then"

# KEYS: task. ARGV: started_at, dispatcher. Returns the attempt number, or 0 if the task is gone or finished.
_START_ATTEMPT = f"""
{_NOT_FINAL} return 0 end
redis.call('HSET', KEYS[1], 'status', 'RUNNING', 'started_at', ARGV[1], 'dispatcher', ARGV[2])
redis.call('HDEL', KEYS[1], 'waiting_since', 'last_problem')
return redis.call('HINCRBY', KEYS[1], 'attempts', 1)
"""

# KEYS: task. ARGV: problem, waiting_since ('' to leave it unset; an earlier one is kept).
# Returns the waiting_since in force ('' if none), or false if the task is finished or gone.
_BACK_TO_PENDING = f"""
{_NOT_FINAL} return false end
redis.call('HSET', KEYS[1], 'status', 'PENDING', 'last_problem', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSETNX', KEYS[1], 'waiting_since', ARGV[2]) end
return redis.call('HGET', KEYS[1], 'waiting_since') or ''
"""

# KEYS: task, image, job stream. ARGV: group, entry id ('' for none), ttl, done channel, final status,
# then field/value pairs. Returns 1 if this call finished the task, 0 if it was already finished or gone.
_FINISH = f"""
local wrote = 0
{_NOT_FINAL} else
  redis.call('HSET', KEYS[1], 'status', ARGV[5], unpack(ARGV, 6))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('PUBLISH', ARGV[4], ARGV[5])
  wrote = 1
end
redis.call('DEL', KEYS[2])
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[3], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[3], ARGV[2])
end
return wrote
"""

# KEYS: task. ARGV: field/value pairs. Writes them only while the task is neither finished nor gone.
_UPDATE_IF_RUNNING = f"""
{_NOT_FINAL} return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS: task. ARGV: field/value pairs. Writes them only if the task still exists (an expired one stays gone).
_UPDATE_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


@dataclass(eq=False)
class TaskStore:
    """The tasks of one Redis (``keys`` names their keys); a finished task and its result live ``ttl_seconds``."""

    redis: Redis
    keys: RedisKeys
    ttl_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TaskStore:
        """The tasks of GATEWAY_REDIS_URL under GATEWAY_KEY_PREFIX, on a Redis client of their own (``redis``: the
        caller closes it)."""
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        return cls(redis, RedisKeys(settings.key_prefix), settings.task_ttl_seconds)

    def __post_init__(self) -> None:
        self._start_attempt = self.redis.register_script(_START_ATTEMPT)
        self._back_to_pending = self.redis.register_script(_BACK_TO_PENDING)
        self._finish = self.redis.register_script(_FINISH)
        self._update_if_exists = self.redis.register_script(_UPDATE_IF_EXISTS)
        self._update_if_running = self.redis.register_script(_UPDATE_IF_RUNNING)

    async def create(self, record: TaskRecord, image: bytes, state: Mapping[str, str | int] | None = None) -> None:
        """Store a new PENDING task and its image, and queue its job, in one transaction. ``state`` overrides
        fields of the new task's hash (a state it is to start from, e.g. in tests of the dispatcher's rules)."""
        task_key = self.keys.task(record.task_id)
        fields: dict[str, str | int] = {
            "kind": record.kind.value,
            "status": TaskStatus.PENDING.value,
            "options": record.options.to_json(),
            "created_at": repr(record.created_at),
            "image_format": record.image_format,
            "image_bytes": str(len(image)),
            "owner": record.owner,
            "attempts": "0",
        }
        if record.callback_url:
            fields |= {"callback_url": record.callback_url, "webhook_status": WebhookStatus.PENDING.value}
        fields |= state or {}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(task_key, mapping=fields)
            pipe.expire(task_key, self.ttl_seconds)
            pipe.set(self.keys.image(record.task_id), image, ex=self.ttl_seconds)
            pipe.xadd(self.keys.job_stream, {"task_id": record.task_id})
            await pipe.execute()

    async def get(self, task_id: str) -> TaskRecord | None:
        fields = await self.redis.hgetall(self.keys.task(task_id))
        return record_from_hash(task_id, fields) if fields else None

    async def get_summary(self, task_id: str) -> tuple[TaskKind, float] | None:
        """The task's kind and creation time (cheap: the result and image stay in Redis)."""
        kind, created_at = await self.redis.hmget(self.keys.task(task_id), ["kind", "created_at"])
        if kind is None:
            return None
        return TaskKind(kind.decode()), float(created_at or 0)

    async def get_callback_url(self, task_id: str) -> str:
        value = await self.redis.hget(self.keys.task(task_id), "callback_url")
        return value.decode() if value else ""

    async def record_webhook(self, task_id: str, status: WebhookStatus, attempts: int, error: str = "") -> None:
        fields = ["webhook_status", status.value, "webhook_attempts", str(attempts), "webhook_error", error]
        await self._update_if_exists(keys=[self.keys.task(task_id)], args=fields)

    async def set_progress(self, task_id: str, frames_done: int, frames_total: int) -> None:
        """A video task's progress, shown by GET /task_result while it runs (a finished task is left alone)."""
        fields = ["frames_done", str(frames_done), "frames_total", str(frames_total)]
        await self._update_if_running(keys=[self.keys.task(task_id)], args=fields)

    async def queue_depth(self) -> tuple[int, int]:
        """Jobs in the stream (queued or in flight) and, of those, the ones a dispatcher holds."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xlen(self.keys.job_stream)
            pipe.xpending(self.keys.job_stream, self.keys.dispatcher_group)
            length, pending = await pipe.execute(raise_on_error=False)
        if isinstance(length, Exception):
            raise length
        held = 0 if isinstance(pending, Exception) else int(pending["pending"])  # no group yet: nothing held
        return int(length), held

    async def exists(self, task_id: str) -> bool:
        return bool(await self.redis.exists(self.keys.task(task_id)))

    async def get_status(self, task_id: str) -> TaskStatus | None:
        value = await self.redis.hget(self.keys.task(task_id), "status")
        return TaskStatus(value.decode()) if value else None

    async def get_image(self, task_id: str) -> bytes | None:
        return await self.redis.get(self.keys.image(task_id))

    async def start_attempt(self, task_id: str, dispatcher: str) -> int:
        """Mark the task RUNNING by ``dispatcher`` and count the attempt; 0: leave it alone (finished or gone)."""
        args = [repr(time.time()), dispatcher]
        return int(await self._start_attempt(keys=[self.keys.task(task_id)], args=args))

    async def back_to_pending(self, task_id: str, problem: str, waiting_since: float | None = None) -> float | None:
        """Return the task to PENDING after ``problem``; with ``waiting_since``, it waits for the face service.

        Returns when the wait began (the first ``waiting_since`` given is kept; 0.0 if none ever was), or None
        if the task is finished or gone.
        """
        since = repr(waiting_since) if waiting_since is not None else ""
        value = await self._back_to_pending(keys=[self.keys.task(task_id)], args=[problem, since])
        if value is None:
            return None
        return float(value) if value else 0.0

    async def finish_success(self, task_id: str, entry_id: str, result: dict, result_image: bytes | None) -> bool:
        fields: list[str | bytes] = ["result", json.dumps(result)]
        if result_image is not None:
            fields += ["result_image", result_image]
        return await self._finish_with(task_id, entry_id, TaskStatus.SUCCESS, fields)

    async def finish_failure(self, task_id: str, entry_id: str, error: str) -> bool:
        return await self._finish_with(task_id, entry_id, TaskStatus.FAILURE, ["error", error])

    async def acknowledge(self, task_id: str, entry_id: str) -> None:
        """Drop a job whose task is already finished or gone (and its image, if any is left)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.image(task_id))
            pipe.xack(self.keys.job_stream, self.keys.dispatcher_group, entry_id)
            pipe.xdel(self.keys.job_stream, entry_id)
            await pipe.execute()

    async def _finish_with(self, task_id: str, entry_id: str, status: TaskStatus, fields: list[str | bytes]) -> bool:
        keys = [self.keys.task(task_id), self.keys.image(task_id), self.keys.job_stream]
        args = [
            self.keys.dispatcher_group,
            entry_id,
            str(self.ttl_seconds),
            self.keys.done_channel(task_id),
            status.value,
            "finished_at",
            repr(time.time()),
            *fields,
        ]
        return bool(await self._finish(keys=keys, args=args))
