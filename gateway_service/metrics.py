"""Prometheus metrics of the gateway, served at ``GET /metrics``.

Counters and histograms are kept by the process that runs the dispatcher (the gateway, by default); the queue
gauges are read from Redis at scrape time, so every gateway shows the whole deployment's queue.

When ``python -m gateway_service`` runs several processes (GATEWAY_HTTP_PROCESSES, GATEWAY_DISPATCHER_PROCESSES)
it sets ``PROMETHEUS_MULTIPROC_DIR`` for them: each process writes its values there, and ``/metrics`` on any of
them serves the sum over all of them (Prometheus' multiprocess mode: the metrics below are then registered
only through the ``MultiProcessCollector``).
"""

from __future__ import annotations

import os

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.registry import CollectorRegistry

from faceblur_proto.v1 import face_detection_pb2 as pb

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def _registry() -> CollectorRegistry | None:
    """Where the metrics register: the default registry, or (multiprocess mode) none of their own."""
    if not os.environ.get(MULTIPROCESS_DIR_VARIABLE):
        return REGISTRY
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):  # per process: misleading summed
        REGISTRY.unregister(collector)
    multiprocess.MultiProcessCollector(REGISTRY)
    return None


_REGISTRY = _registry()

_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

TASKS_SUBMITTED = Counter(
    "faceblur_gateway_tasks_submitted_total", "Tasks accepted, by kind", ["kind"], registry=_REGISTRY
)
TASKS_FINISHED = Counter(
    "faceblur_gateway_tasks_finished_total",
    "Tasks finished by this process's dispatcher",
    ["kind", "status"],
    registry=_REGISTRY,
)
STAGE_SECONDS = Histogram(
    "faceblur_gateway_stage_seconds",
    "Task latency by stage: queue_wait (submitted to first sent), face_service (round trip of the answered "
    "attempt), total (submitted to finished)",
    ["stage"],
    buckets=_SECONDS_BUCKETS,
    registry=_REGISTRY,
)
FACE_STAGE_SECONDS = Histogram(
    "faceblur_gateway_face_stage_seconds",
    "The face service's own stage timings as reported in each job result",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=_REGISTRY,
)
WEBHOOKS = Counter("faceblur_gateway_webhooks_total", "Webhook deliveries by outcome", ["outcome"], registry=_REGISTRY)
# Read from Redis at scrape time: the same for every process, so the latest reading stands.
QUEUE_ENTRIES = Gauge(
    "faceblur_gateway_queue_entries",
    "Jobs in the Redis stream: waiting or held by a dispatcher",
    registry=_REGISTRY,
    multiprocess_mode="mostrecent",
)
FACE_VECTORS = Gauge(
    "faceblur_gateway_face_vectors",
    "Face vectors stored in all galleries (a count only: the vectors themselves are never exported)",
    registry=_REGISTRY,
    multiprocess_mode="mostrecent",
)
QUEUE_HELD = Gauge(
    "faceblur_gateway_queue_held",
    "Jobs delivered to a dispatcher and not yet finished",
    registry=_REGISTRY,
    multiprocess_mode="mostrecent",
)
QUEUE_WAITING = Gauge(
    "faceblur_gateway_queue_waiting",
    "Jobs in the stream no dispatcher has taken yet",
    registry=_REGISTRY,
    multiprocess_mode="mostrecent",
)
# The dispatchers of this gateway (summed over its live processes).
DISPATCHER_IN_FLIGHT = Gauge(
    "faceblur_gateway_dispatcher_in_flight",
    "Jobs this gateway's dispatchers hold now (sent to or waiting for a face service)",
    registry=_REGISTRY,
    multiprocess_mode="livesum",
)
DISPATCHER_IN_FLIGHT_LIMIT = Gauge(
    "faceblur_gateway_dispatcher_in_flight_limit",
    "The most jobs this gateway's dispatchers hold at once: the face services' workers and a margin, "
    "or GATEWAY_MAX_IN_FLIGHT",
    registry=_REGISTRY,
    multiprocess_mode="livesum",
)


def observe_face_timings(timings: pb.StageTimings) -> None:
    """One observation per stage the job went through (0 ms: the stage did not run, e.g. anonymize on detect)."""
    for stage in ("queue", "decode", "inference", "anonymize", "encode"):
        milliseconds = getattr(timings, f"{stage}_ms")
        if milliseconds > 0:
            FACE_STAGE_SECONDS.labels(stage=stage).observe(milliseconds / 1000)


FACE_WORKERS = Gauge(
    "faceblur_gateway_face_workers",
    "Worker processes of the face services a dispatcher of this gateway is connected to, as they report them "
    "(0: none connected, or none said)",
    registry=_REGISTRY,
    multiprocess_mode="mostrecent",
)


# One series per face service, labelled with its address: a ``dns:///name:port`` replica by its resolved address.
FACE_SERVICE_CONNECTED = Gauge(
    "faceblur_gateway_face_service_connected",
    "Streams this gateway's dispatchers have open to the face service at this address (one per dispatcher; 0 while "
    "reconnecting). A replica that leaves its dns:/// name is dropped",
    ["address"],
    registry=_REGISTRY,
    multiprocess_mode="livesum",
)
FACE_SERVICE_JOBS = Counter(
    "faceblur_gateway_face_service_jobs_total",
    "Jobs this process's dispatcher sent to the face service at this address",
    ["address"],
    registry=_REGISTRY,
)


def face_service_gone(address: str) -> None:
    """The address left the face services: its series go (in multiprocess mode, where prometheus_client cannot
    remove a series, it stays at 0 connected)."""
    FACE_SERVICE_CONNECTED.labels(address=address).set(0)
    if _REGISTRY is not None:
        FACE_SERVICE_CONNECTED.remove(address)
        FACE_SERVICE_JOBS.remove(address)


def observe_dispatcher(in_flight: int, limit: int, face_workers: int) -> None:
    DISPATCHER_IN_FLIGHT.set(in_flight)
    DISPATCHER_IN_FLIGHT_LIMIT.set(limit)
    FACE_WORKERS.set(face_workers)


def set_queue_depth(entries: int, held: int) -> None:
    QUEUE_ENTRIES.set(entries)
    QUEUE_HELD.set(held)
    QUEUE_WAITING.set(max(entries - held, 0))
