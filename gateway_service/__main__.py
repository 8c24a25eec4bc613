"""``python -m gateway_service``: serve the gateway on GATEWAY_HOST:GATEWAY_PORT.

By default (fewer than 16 cores) that is one process: uvicorn serving the HTTP API, with the dispatcher inside.
On bigger machines, or when asked, it runs GATEWAY_HTTP_PROCESSES uvicorn processes on the one port and, with
GATEWAY_DISPATCHER_PROCESSES, that many ``gateway_service.dispatcher`` processes beside them (the HTTP ones
then run none). Their Prometheus metrics are shared through a multiprocess directory, so ``/metrics`` on any
HTTP process shows the sum. SIGINT/SIGTERM stop them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import uvicorn

from gateway_service.core.config import Settings, get_settings
from gateway_service.core.logging import configure_logging

log = logging.getLogger("gateway_service")

_PR_SET_PDEATHSIG = 1
# gateway_service.metrics reads it when first imported; this process must not import it before setting it.
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def main() -> None:
    settings = get_settings()
    configure_logging(settings)
    if settings.http_processes == 1 and settings.dispatcher_processes == 0:
        serve_http(settings)  # the common case: one process, nothing to share
        return
    metrics_dir = tempfile.mkdtemp(prefix="faceblur-gateway-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = metrics_dir  # before any child starts (spawned: they inherit it)
    dispatchers: list[subprocess.Popen[bytes]] = []
    try:
        if settings.dispatcher_processes:
            os.environ["GATEWAY_RUN_DISPATCHER"] = "false"  # the HTTP processes leave the jobs to these
            dispatchers = [start_dispatcher() for _ in range(settings.dispatcher_processes)]
            get_settings.cache_clear()
            settings = get_settings()
        log.info(
            "gateway: %d HTTP process(es)%s",
            settings.http_processes,
            f" and {len(dispatchers)} dispatcher process(es)" if dispatchers else ", each with a dispatcher",
        )
        serve_http(settings)
    finally:
        for process in dispatchers:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in dispatchers:
            try:
                process.wait(settings.shutdown_grace_seconds + 5)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(metrics_dir, ignore_errors=True)


def serve_http(settings: Settings) -> None:
    uvicorn.run(
        "gateway_service.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.http_processes if settings.http_processes > 1 else None,
        log_config=None,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds + 5,
    )


def start_dispatcher() -> subprocess.Popen[bytes]:
    """``python -m gateway_service.dispatcher`` with this process's environment; on Linux it gets SIGTERM if
    this process dies (even by kill -9), so no dispatcher outlives its gateway."""
    return subprocess.Popen([sys.executable, "-m", "gateway_service.dispatcher"], preexec_fn=_die_with_parent)


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


if __name__ == "__main__":
    main()
