"""The gateway's one settings object, read from environment variables.

Gateway-specific variables carry the ``GATEWAY_`` prefix; ``REDIS_URL`` and ``FACE_SERVICE_ADDRESSES`` are
shared with the rest of the deployment and have none. Every field's docstring names its variable; the media store
and log fields, read alike by the face service, are in ``faceblur_proto/settings.py``.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from faceblur_proto.settings import ServiceSettings
from faceblur_proto.vocabulary import DEFAULT_CRF, DEFAULT_DETECT_EVERY, DEFAULT_PLATE_DETECT_EVERY
from gateway_service.core.face_addresses import parse_face_addresses

MIB = 1024 * 1024
CORES_PER_HTTP_PROCESS = 8


def default_http_processes() -> int:
    """One HTTP process per 8 cores: at 16 face-service workers one gateway process carried 0.69x of the bare
    detector on ``fast`` jobs, two 0.92x (README, Scaling); on small machines one process keeps it cheap."""
    return max(1, (os.cpu_count() or 1) // CORES_PER_HTTP_PROCESS)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", case_sensitive=False, extra="ignore")
    service = "gateway"

    host: str = "127.0.0.1"
    """GATEWAY_HOST: address the HTTP server binds to."""

    port: int = Field(8000, ge=0, le=65535)
    """GATEWAY_PORT: HTTP port."""

    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=AliasChoices("REDIS_URL", "GATEWAY_REDIS_URL"))
    """REDIS_URL: the Redis that holds tasks, uploaded images and the job stream."""

    face_service_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1:50051"],
        validation_alias=AliasChoices("FACE_SERVICE_ADDRESSES", "GATEWAY_FACE_SERVICE_ADDRESSES"),
    )
    """FACE_SERVICE_ADDRESSES: comma-separated face services; jobs go to the least loaded. Each is a ``host:port``,
    or ``dns:///name:port`` for every address the name resolves to (each a replica on that port, followed as
    replicas come and go: GATEWAY_FACE_RESOLVE_SECONDS); a list may mix both (``core/face_addresses.py``)."""

    face_resolve_seconds: float = Field(10.0, gt=0)
    """GATEWAY_FACE_RESOLVE_SECONDS: how often each ``dns:///name:port`` of FACE_SERVICE_ADDRESSES is resolved
    again: a replica that appeared gets a stream and its share of jobs, one that vanished is dropped and its jobs in
    flight are retried on the others. A failed resolution keeps the last known replicas."""

    key_prefix: str = "faceblur"
    """GATEWAY_KEY_PREFIX: prefix of every Redis key, stream and channel the gateway uses."""

    max_upload_bytes: int = Field(20 * MIB, gt=0)
    """GATEWAY_MAX_UPLOAD_BYTES: largest accepted image upload (bigger ones get HTTP 413)."""

    task_ttl_seconds: int = Field(24 * 3600, gt=0)
    """GATEWAY_TASK_TTL_SECONDS: how long a task record (and its result) is kept in Redis."""

    webhook_secret: str = ""
    """GATEWAY_WEBHOOK_SECRET: key of the HMAC-SHA256 signature on webhook calls (``X-FaceBlur-Signature``).
    Empty (the default): webhooks are off, and a ``callback_url`` is refused."""

    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """GATEWAY_WEBHOOK_ALLOWED_HOSTS: comma-separated host names a ``callback_url`` may point at
    (``*.example.com`` matches subdomains). Empty (the default): any host with a public address."""

    webhook_allow_private: bool = False
    """GATEWAY_WEBHOOK_ALLOW_PRIVATE: also call back to private, loopback and link-local addresses (for
    receivers on the same host or network). Off by default, so the gateway cannot be used to probe them."""

    webhook_attempts: int = Field(5, gt=0)
    """GATEWAY_WEBHOOK_ATTEMPTS: tries to deliver one webhook before it is recorded as failed."""

    webhook_timeout_seconds: float = Field(10.0, gt=0)
    """GATEWAY_WEBHOOK_TIMEOUT_SECONDS: timeout of each webhook request."""

    webhook_backoff_seconds: float = Field(1.0, ge=0)
    """GATEWAY_WEBHOOK_BACKOFF_SECONDS: wait before the second try of a webhook; it doubles before each
    further try."""

    result_wait_max_seconds: float = Field(30.0, ge=0)
    """GATEWAY_RESULT_WAIT_MAX_SECONDS: cap on ``GET /task_result/{id}?wait=S``; longer waits are shortened."""

    result_poll_seconds: float = Field(1.0, gt=0)
    """GATEWAY_RESULT_POLL_SECONDS: how often a waiting request re-reads its task when no notification comes
    (the fallback if Redis pub/sub is unavailable)."""

    run_dispatcher: bool = True
    """GATEWAY_RUN_DISPATCHER: run the dispatcher inside the HTTP process (set false when it runs standalone
    via ``python -m gateway_service.dispatcher``)."""

    max_in_flight: int = Field(0, ge=0)
    """GATEWAY_MAX_IN_FLIGHT: most jobs one dispatcher holds at once (sent to or waiting for the face service).
    0 (the default): follow the face services' capacity, their reported workers summed over the connected
    replicas plus a margin of a quarter (at least 2), so every worker stays busy (``dispatcher/capacity.py``)."""

    http_processes: int = Field(default_factory=lambda: default_http_processes(), gt=0)
    """GATEWAY_HTTP_PROCESSES: HTTP server processes ``python -m gateway_service`` runs on one port (each with a
    dispatcher, unless GATEWAY_DISPATCHER_PROCESSES is set). Default: one per 8 cores, at least one."""

    dispatcher_processes: int = Field(0, ge=0)
    """GATEWAY_DISPATCHER_PROCESSES: dispatcher processes ``python -m gateway_service`` runs beside its HTTP
    processes, which then run none. 0 (the default): each HTTP process runs its own dispatcher."""

    claim_idle_seconds: float = Field(60.0, gt=0)
    """GATEWAY_CLAIM_IDLE_SECONDS: a job whose dispatcher has shown no sign of life for this long is claimed
    by another dispatcher. Live dispatchers refresh their jobs every third of this time."""

    max_attempts: int = Field(3, gt=0)
    """GATEWAY_MAX_ATTEMPTS: deliveries of one job to the face service before it fails as a poison job."""

    face_service_wait_seconds: float = Field(300.0, ge=0)
    """GATEWAY_FACE_SERVICE_WAIT_SECONDS: how long a task waits for an unreachable face service before it
    fails."""

    face_job_timeout_seconds: float = Field(120.0, gt=0)
    """GATEWAY_FACE_JOB_TIMEOUT_SECONDS: longest the face service may take on one job before it is retried."""

    shutdown_grace_seconds: float = Field(10.0, ge=0)
    """GATEWAY_SHUTDOWN_GRACE_SECONDS: on shutdown, time the dispatcher's jobs in flight get to finish
    (the rest are picked up again by another dispatcher, or by this one after a restart)."""

    ready_timeout_seconds: float = Field(1.0, gt=0)
    """GATEWAY_READY_TIMEOUT_SECONDS: timeout of each check behind ``GET /readyz``."""

    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """GATEWAY_API_KEYS: comma-separated API keys. With any key set (here or in the file), every endpoint but
    /healthz, /readyz and the docs needs ``Authorization: Bearer <key>`` or ``X-API-Key``, and a task is
    visible only to the key that created it. Empty (the default): no keys, open access."""

    api_keys_file: Path | None = None
    """GATEWAY_API_KEYS_FILE: a file with one API key a line (``#`` comments), added to GATEWAY_API_KEYS."""

    rate_limit_per_minute: int = Field(0, ge=0)
    """GATEWAY_RATE_LIMIT_PER_MINUTE: uploads (POSTs) one API key, or one client IP when keys are off, may make
    per clock minute, shared by every gateway on the same Redis; more get HTTP 429 with Retry-After. 0: no
    limit."""

    max_files_per_request: int = Field(32, gt=0)
    """GATEWAY_MAX_FILES_PER_REQUEST: most images (``file`` parts and ``url`` fields together) one request may
    send; each becomes its own task. GATEWAY_MAX_UPLOAD_BYTES limits all of them together."""

    fetch_timeout_seconds: float = Field(20.0, gt=0)
    """GATEWAY_FETCH_TIMEOUT_SECONDS: longest the gateway spends fetching one ``url`` image (redirects included)."""

    fetch_allow_private: bool = False
    """GATEWAY_FETCH_ALLOW_PRIVATE: let ``url`` images come from private, loopback and link-local addresses. Off by
    default, so the gateway cannot be used to probe its own network."""

    verify_threshold: float = Field(0.363, ge=-1, le=1)
    """GATEWAY_VERIFY_THRESHOLD: the lowest cosine similarity at which verify_faces says "same person", and at which
    blur_faces with only_gallery hides a face (a doubtful match is hidden). SFace's published operating point; on
    LFW's pairs: no false accept in 1,500, 1.3 % false rejects (bench/recognition.py)."""

    identify_threshold: float = Field(0.475, ge=-1, le=1)
    """GATEWAY_IDENTIFY_THRESHOLD: the lowest similarity at which identify names a subject. Stricter than verify's:
    a face is compared with every subject of a gallery, so a stranger meets a look-alike more often (with 774
    people enrolled: 0.8 % of strangers named, 96.9 % of enrolled people named right; at 0.363 it was 51 %)."""

    spare_threshold: float = Field(0.6, ge=-1, le=1)
    """GATEWAY_SPARE_THRESHOLD: the highest similarity blur_faces with spare_gallery may require to leave a face
    visible (the ceiling of the largest galleries). The threshold grows with the gallery, since a stranger is
    compared with every enrolled face: the lowest at which the gallery's faces x LFW's measured false-accept rate
    of one comparison stays within 0.1 % (half the 0.2 % of strangers spare may leave visible; matching.py
    spare_threshold), never below GATEWAY_VERIFY_THRESHOLD: 0.384 for 2 faces, 0.425 for 10, 0.471 for 100, 0.53
    for 774, 0.589 for 10,000, this ceiling from about 16,000. Lowering it trades strangers for enrolled people in
    the largest galleries only."""

    media_redirect: bool = False
    """GATEWAY_MEDIA_REDIRECT: answer GET of a task's video and faces with a 307 to a presigned URL of the store (an
    hour long) where it gives one (S3), so the bytes do not pass through the gateway; HEAD is still answered here."""

    media_wait_seconds: float = Field(300.0, ge=0)
    """GATEWAY_MEDIA_WAIT_SECONDS: how long a video task waits for a media store that does not answer (PENDING,
    its problem naming the store) before it fails."""

    scratch_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "faceblur-gateway-scratch")
    """GATEWAY_SCRATCH_DIR: local work files of videos on an S3 store (an upload while it is probed, the segments and
    input while they are joined, the result until it is stored), each deleted when its step ends."""

    video_max_bytes: int = Field(1024 * MIB, gt=0)
    """GATEWAY_VIDEO_MAX_BYTES: largest video upload (streamed to disk, never held in memory)."""

    video_max_duration_seconds: float = Field(1800.0, gt=0)
    """GATEWAY_VIDEO_MAX_DURATION_SECONDS: longest video accepted, measured from its packets (not its header)."""

    video_max_resolution: str = Field("3840x2160", pattern=r"^[0-9]+x[0-9]+$")
    """GATEWAY_VIDEO_MAX_RESOLUTION: largest frame, WIDTHxHEIGHT, either way round (a portrait 2160x3840 passes)."""

    video_max_frames: int = Field(108_000, gt=0)
    """GATEWAY_VIDEO_MAX_FRAMES: most frames a video may have (30 minutes at 60 fps)."""

    video_detect_every: int = Field(DEFAULT_DETECT_EVERY, ge=1, le=30)
    """GATEWAY_VIDEO_DETECT_EVERY: the detector runs on every Nth frame; the tracker carries faces between."""

    video_plate_detect_every: int = Field(DEFAULT_PLATE_DETECT_EVERY, ge=1, le=120)
    """GATEWAY_VIDEO_PLATE_DETECT_EVERY: videos with plates=true: the plate detector runs on every Nth frame (rounded
    up to a multiple of GATEWAY_VIDEO_DETECT_EVERY); the tracker carries plates between."""

    video_crf: int = Field(DEFAULT_CRF, ge=0, le=51)
    """GATEWAY_VIDEO_CRF: the output's x264 quality (lower: better and larger) when a task names none."""

    video_segment_seconds: float = Field(1.0, gt=0)
    """GATEWAY_VIDEO_SEGMENT_SECONDS: shortest segment a video is split into. A video is split into two segments
    per face-service worker (fewer if they would be shorter than this), run in parallel; short, so even a clip of a
    few seconds keeps every core busy."""

    video_segment_max_frames: int = Field(1000, gt=0)
    """GATEWAY_VIDEO_SEGMENT_MAX_FRAMES: longest segment, in frames. A long video is cut into more segments than two
    per worker so that each job ends well within the segment timeout: 1000 4K frames take about 220 s on one core of
    a 2-core EPYC, a quarter of the default timeout. It also makes the progress of a long video move in small steps."""

    video_segment_timeout_seconds: float = Field(900.0, gt=0)
    """GATEWAY_VIDEO_SEGMENT_TIMEOUT_SECONDS: longest one segment job may take before it is sent again."""

    @field_validator("api_keys", "face_service_addresses", "webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if info.field_name == "webhook_allowed_hosts" and isinstance(value, list):
            value = [str(host).lower() for host in value]  # host names match case-insensitively
        return value

    @field_validator("face_service_addresses")
    @classmethod
    def _require_an_address(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("FACE_SERVICE_ADDRESSES needs at least one host:port")
        parse_face_addresses(value)  # AddressError (a ValueError) says what is wrong with a dns: entry
        return value


@lru_cache
def get_settings() -> Settings:
    """The settings, or SystemExit naming each bad variable and what it expects."""
    return Settings.from_env()
