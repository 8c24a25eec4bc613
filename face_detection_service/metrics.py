"""Prometheus metrics of the face service (served on FACE_METRICS_PORT when it is set)."""

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter("faceblur_face_jobs_total", "Jobs answered, by kind and outcome", ["kind", "outcome"])
STAGE_SECONDS = Histogram(
    "faceblur_face_stage_seconds",
    "Time spent per job stage",
    ["stage"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PENDING_JOBS = Gauge("faceblur_face_pending_jobs", "Jobs queued or running on the workers")
WORKERS = Gauge("faceblur_face_workers", "Worker processes, each running one job at a time (FACE_WORKERS)")
