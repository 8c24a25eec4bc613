"""How both services learn they are to stop: SIGINT or SIGTERM (Ctrl-C, `docker stop`, the orchestrator)."""

from __future__ import annotations

import asyncio
import signal


def stop_requested() -> asyncio.Event:
    """An event set when the process gets SIGINT or SIGTERM; call it inside the running event loop."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, event.set)
    return event
