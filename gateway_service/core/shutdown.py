"""Stopping background work: what is running gets a grace period to finish, then is cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

# How long a cancelled task may take to end before it is cancelled again.
RECANCEL_SECONDS = 5.0


async def drain(tasks: Collection[asyncio.Task[None]], grace_seconds: float) -> None:
    """Let ``tasks`` finish for up to ``grace_seconds``, cancel the rest, and wait until all have ended."""
    if tasks and grace_seconds > 0:
        await asyncio.wait(tasks, timeout=grace_seconds)
    await cancel_all(tasks)


async def cancel_all(tasks: Collection[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and wait until all have ended. A task still running RECANCEL_SECONDS after its
    cancellation (its clean-up has had time) is cancelled again: on Python 3.11, ``asyncio.wait_for`` loses a
    cancellation that arrives as the awaited thing completes (CPython gh-86296, fixed in 3.12), and a loop around
    it would then run on and hold the stop forever."""
    pending = [task for task in tasks if not task.done()]
    while pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        pending = [task for task in pending if not task.done()]
    await asyncio.gather(*tasks, return_exceptions=True)
