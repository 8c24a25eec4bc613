"""Prometheus metrics of the gateway, served at ``GET /metrics``.

Counters and histograms are kept by the process that runs the dispatcher (the gateway, by default); the queue
gauges are read from Redis at scrape time, so every gateway shows the whole deployment's queue.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from faceblur_proto.v1 import face_detection_pb2 as pb

_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

TASKS_SUBMITTED = Counter("faceblur_gateway_tasks_submitted_total", "Tasks accepted, by kind", ["kind"])
TASKS_FINISHED = Counter(
    "faceblur_gateway_tasks_finished_total", "Tasks finished by this process's dispatcher", ["kind", "status"]
)
STAGE_SECONDS = Histogram(
    "faceblur_gateway_stage_seconds",
    "Task latency by stage: queue_wait (submitted to first sent), face_service (round trip of the answered "
    "attempt), total (submitted to finished)",
    ["stage"],
    buckets=_SECONDS_BUCKETS,
)
FACE_STAGE_SECONDS = Histogram(
    "faceblur_gateway_face_stage_seconds",
    "The face service's own stage timings as reported in each job result",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOKS = Counter("faceblur_gateway_webhooks_total", "Webhook deliveries by outcome", ["outcome"])
QUEUE_ENTRIES = Gauge("faceblur_gateway_queue_entries", "Jobs in the Redis stream: waiting or held by a dispatcher")
QUEUE_HELD = Gauge("faceblur_gateway_queue_held", "Jobs delivered to a dispatcher and not yet finished")
QUEUE_WAITING = Gauge("faceblur_gateway_queue_waiting", "Jobs in the stream no dispatcher has taken yet")


def observe_face_timings(timings: pb.StageTimings) -> None:
    """One observation per stage the job went through (0 ms: the stage did not run, e.g. anonymize on detect)."""
    for stage in ("queue", "decode", "inference", "anonymize", "encode"):
        milliseconds = getattr(timings, f"{stage}_ms")
        if milliseconds > 0:
            FACE_STAGE_SECONDS.labels(stage=stage).observe(milliseconds / 1000)


def set_queue_depth(entries: int, held: int) -> None:
    QUEUE_ENTRIES.set(entries)
    QUEUE_HELD.set(held)
    QUEUE_WAITING.set(max(entries - held, 0))
