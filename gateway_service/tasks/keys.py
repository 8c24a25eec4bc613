"""Names of everything the gateway keeps in Redis, all under one prefix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "faceblur"

    @property
    def job_stream(self) -> str:
        return f"{self.prefix}:jobs"

    @property
    def dispatcher_group(self) -> str:
        return "dispatchers"

    @property
    def done_channel_pattern(self) -> str:
        return f"{self.prefix}:done:*"

    def task(self, task_id: str) -> str:
        return f"{self.prefix}:task:{task_id}"

    def image(self, task_id: str) -> str:
        return f"{self.prefix}:image:{task_id}"

    def done_channel(self, task_id: str) -> str:
        return f"{self.prefix}:done:{task_id}"

    def task_id_from_done_channel(self, channel: str) -> str:
        return channel.removeprefix(f"{self.prefix}:done:")
