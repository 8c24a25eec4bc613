"""Stopping background work: what is running gets a grace period to finish, then is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Collection


async def drain(tasks: Collection[asyncio.Task[None]], grace_seconds: float) -> None:
    """Let ``tasks`` finish for up to ``grace_seconds``, cancel the rest, and wait until all have ended."""
    if tasks and grace_seconds > 0:
        await asyncio.wait(tasks, timeout=grace_seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
