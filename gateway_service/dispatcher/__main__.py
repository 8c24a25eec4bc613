"""``python -m gateway_service.dispatcher``: a dispatcher on its own, without the HTTP API.

Run as many as needed beside gateways started with GATEWAY_RUN_DISPATCHER=false (or beside ordinary ones);
each joins the same consumer group under its own name. Stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging

from faceblur_proto.stop_signals import stop_requested
from gateway_service.core.config import get_settings
from gateway_service.core.logging import configure_logging
from gateway_service.dispatcher.consumer import Dispatcher
from gateway_service.tasks.store import TaskStore

log = logging.getLogger(__name__)


async def run() -> None:
    settings = get_settings()
    store = TaskStore.from_settings(settings)
    dispatcher = Dispatcher(settings, store)
    stop = stop_requested()
    await dispatcher.start()
    try:
        await stop.wait()
    finally:
        await dispatcher.stop(settings.shutdown_grace_seconds)
        await store.redis.aclose()


def main() -> None:
    configure_logging(get_settings())
    asyncio.run(run())


if __name__ == "__main__":
    main()
