"""``python -m gateway_service``: serve the gateway with uvicorn on GATEWAY_HOST:GATEWAY_PORT."""

from __future__ import annotations

import uvicorn

from gateway_service.core.config import get_settings
from gateway_service.core.logging import configure_logging


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    uvicorn.run(
        "gateway_service.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds + 5,
    )


if __name__ == "__main__":
    main()
