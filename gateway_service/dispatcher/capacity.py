"""How many jobs one dispatcher holds at once: enough to keep every face-service worker busy, and no more.

The face services report their worker processes (``GetServerInfo.workers``). A dispatcher connected to
services with W workers in all holds W + max(2, ceil(W / 4)) jobs: one per worker, and a margin so that the
next job is already uploaded and queued at the service when a worker frees up (while the dispatcher is busy
with a finished job's Redis writes, its slot is not on a worker). A service that reports no workers, and the
case where no service is connected yet, count as ``ASSUMED_WORKERS``, which gives the former fixed limit of 8.
A fixed ``GATEWAY_MAX_IN_FLIGHT`` overrides the rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

ASSUMED_WORKERS = 6
"""Workers a face service counts for while it has not said (or when none is connected)."""

MIN_MARGIN = 2


def margin(workers: int) -> int:
    """Jobs held beyond one per worker: a quarter more, at least two."""
    return max(MIN_MARGIN, math.ceil(workers / 4))


def in_flight_limit(fixed: int, connected_workers: Iterable[int | None]) -> int:
    """The most jobs a dispatcher holds: ``fixed`` when set (> 0), else the connected services' workers and a
    margin. ``connected_workers`` has one entry per connected service: its workers, or None if unknown."""
    if fixed > 0:
        return fixed
    reported = [ASSUMED_WORKERS if workers is None or workers <= 0 else workers for workers in connected_workers]
    workers = sum(reported) if reported else ASSUMED_WORKERS
    return workers + margin(workers)
