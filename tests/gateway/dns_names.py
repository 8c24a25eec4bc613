"""Names that resolve to the addresses a test chooses, for gateways that find their face services by DNS.

The gateway takes its resolver as a function (``create_app(resolve=...)``; by default the system's
``loop.getaddrinfo``), so a test needs neither root, nor an edited /etc/hosts, nor a DNS server: ``HostsFile`` is a
JSON file of name -> addresses the test rewrites as it goes, and ``python -m tests.gateway.dns_names HOSTS_FILE``
runs the real gateway (``create_app``, uvicorn, one process) with a resolver that reads that file, exactly as
``python -m gateway_service`` runs it with the system's. A name missing from the file fails as an unknown host does.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import uvicorn

from gateway_service.core.config import get_settings
from gateway_service.core.face_addresses import Resolver
from gateway_service.core.logging import configure_logging
from gateway_service.main import create_app


class HostsFile:
    """name -> addresses, written whole (a resolver never reads half a file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.point({})

    def point(self, names: dict[str, list[str]]) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(names))
        os.replace(temporary, self.path)


def hosts_file_resolver(path: Path) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        addresses = json.loads(path.read_text()).get(host)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return addresses

    return resolve


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    app = create_app(settings, resolve=hosts_file_resolver(Path(sys.argv[1])))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds + 5,
    )


if __name__ == "__main__":
    main()
