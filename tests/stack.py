"""Real processes for integration tests: redis-server, the face service and the gateway, each on a free port.

They run under the process harness of `make run` (scripts/processes.py), each logging to its own file; when one
fails to start, the error carries the end of that log. ``kill()`` is kill -9 (no cleanup, as in a crash),
``restart()`` brings the process back on the same port (and, for Redis, the same data directory, so its
append-only file is replayed).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import httpx
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "scripts") not in sys.path:  # pytest puts it there (pyproject.toml); bench/ imports us too
    sys.path.append(str(REPO_ROOT / "scripts"))

from faceblur_proto.media import TaskMedia  # noqa: E402
from faceblur_proto.media_store import FileStore, MediaStore  # noqa: E402
from gateway_service.tasks.keys import RedisKeys  # noqa: E402
from processes import LOOPBACK, Service, ServiceGroup, ServiceProcess, face_service, gateway_service, redis_service  # noqa: E402

SHARED = Path(os.environ.get("FACEBLUR_SHARED", REPO_ROOT.parent / "shared"))
FACE_MODEL = Path(os.environ.get("FACE_MODEL", SHARED / "models" / "yolov8n-face_int8.tflite"))
REFERENCE_IMAGE = SHARED / "data" / "reference" / "test.jpg"
REFERENCE_DETECTIONS = SHARED / "data" / "reference" / "expected_detect.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def first_executable(candidates: Sequence[str | Path | None], missing: str) -> str:
    """The first candidate that is an executable file; RuntimeError(``missing``) if none is."""
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(missing)


def find_redis_server() -> str:
    """REDIS_SERVER_BIN, else redis-server on PATH, else one scripts/ensure_redis.sh unpacked from PyPI."""
    candidates = [
        os.environ.get("REDIS_SERVER_BIN"),
        shutil.which("redis-server"),
        REPO_ROOT / ".venv/redis-server/redis_server/bin/redis-server",
        REPO_ROOT / ".run/bin/redis-server",
    ]
    return first_executable(
        candidates,
        "no redis-server binary: the gateway tests run a real Redis. Install one (apt-get install redis-server, "
        "or scripts/ensure_redis.sh) or point REDIS_SERVER_BIN at it.",
    )


class RedisServer(ServiceProcess):
    def __init__(self, work_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        service = redis_service(
            find_redis_server(),
            self.port,
            work_dir / f"redis-{self.port}",
            *("--save", "", "--daemonize", "no"),
            ready_timeout=20,
        )
        super().__init__(service, work_dir / f"redis-{self.port}.log")

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class FaceService(ServiceProcess):
    """A face service on ``host`` (any 127.x.y.z is loopback on Linux: several can share one port)."""

    def __init__(self, work_dir: Path, port: int | None = None, host: str = LOOPBACK, **env: str) -> None:
        self.host = host
        self.port = port or free_port()
        environment = os.environ | {"FACE_MODEL": str(FACE_MODEL), "FACE_GRPC_HOST": host, **env}
        log_name = f"face-{self.port}.log" if host == LOOPBACK else f"face-{host}-{self.port}.log"
        super().__init__(face_service(self.port, environment, host=host), work_dir / log_name)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _gateway_env(redis_url: str, face_addresses: list[str], **env: str) -> dict[str, str]:
    return os.environ | {"REDIS_URL": redis_url, "FACE_SERVICE_ADDRESSES": ",".join(face_addresses), **env}


class Gateway(ServiceProcess):
    def __init__(
        self, work_dir: Path, redis_url: str, face_addresses: list[str], port: int | None = None, **env: str
    ) -> None:
        self.port = port or free_port()
        environment = _gateway_env(redis_url, face_addresses, GATEWAY_HOST=LOOPBACK, **env)
        super().__init__(gateway_service(self.port, environment), work_dir / f"gateway-{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


class StandaloneDispatcher(ServiceProcess):
    """``python -m gateway_service.dispatcher``: the dispatcher without the HTTP API. It has no health check of
    its own: it is ready once it reads the job stream, as a consumer of the dispatchers' group in Redis."""

    def __init__(self, work_dir: Path, redis_url: str, face_addresses: list[str], **env: str) -> None:
        self.redis_url = redis_url
        self.keys = RedisKeys(env.get("GATEWAY_KEY_PREFIX", "faceblur"))
        command = [sys.executable, "-m", "gateway_service.dispatcher"]
        environment = _gateway_env(redis_url, face_addresses, **env)
        service = Service("dispatcher", command, self.has_joined_its_group, environment)
        super().__init__(service, work_dir / f"dispatcher-{free_port()}.log")

    def has_joined_its_group(self) -> bool:
        """Its consumer (named hostname-pid-random) is in the group: it has read the stream at least once."""
        try:
            with redis.Redis.from_url(self.redis_url, decode_responses=True) as client:
                consumers = client.xinfo_consumers(self.keys.job_stream, self.keys.dispatcher_group)
        except redis.RedisError:  # no stream or group yet
            return False
        return any(f"-{self.pid}-" in consumer["name"] for consumer in consumers)


MEDIA_PREFIX = "faceblur"  # the key prefix of an S3 stack's media: s3://<bucket>/faceblur


class Stack(ServiceGroup):
    """Redis, one face service and one gateway wired together; ``gateway_env`` tunes the gateway.

    ``media``: where videos live. ``"file"`` (the default): a directory both services see (``media_dir``), as a
    shared volume. ``"s3"``: a SeaweedFS S3 store of its own (``s3``, started first and stopped last), given to both
    as GATEWAY_MEDIA_URL = FACE_MEDIA_URL = s3://<bucket>/faceblur with the AWS_* variables, so they share no
    directory. FACEBLUR_TEST_MEDIA=s3 makes every stack an S3 one. Either way each service has a scratch directory
    of its own (``gateway_scratch``, ``face_scratch``)."""

    def __init__(
        self, work_dir: Path, redis_server: RedisServer | None = None, media: str | None = None, **gateway_env: str
    ) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        self.redis = redis_server or RedisServer(work_dir)
        # Videos: the gateway and the face service share this directory, as they would share a volume.
        self.media_dir = Path(gateway_env.pop("GATEWAY_MEDIA_DIR", work_dir / "media"))
        self.media = media or os.environ.get("FACEBLUR_TEST_MEDIA") or "file"
        self.gateway_scratch, self.face_scratch = work_dir / "gateway-scratch", work_dir / "face-scratch"
        gateway_media: dict[str, str] = {"GATEWAY_SCRATCH_DIR": str(self.gateway_scratch)}
        face_media: dict[str, str] = {"FACE_SCRATCH_DIR": str(self.face_scratch)}
        self.s3 = None
        if self.media == "s3":
            from tests.s3 import SeaweedS3  # it imports this module

            self.s3 = SeaweedS3(work_dir)
            url = self.s3.url(MEDIA_PREFIX)
            gateway_media |= self.s3.environ() | {"GATEWAY_MEDIA_URL": url}
            face_media |= self.s3.environ() | {"FACE_MEDIA_URL": url}
        elif self.media != "file":
            raise ValueError(f"media={self.media!r} (FACEBLUR_TEST_MEDIA): give file or s3")
        # For another gateway, dispatcher or face service on the same media (the directory, or the S3 store):
        # one built without these would look for the videos in a directory of its own.
        self.gateway_media_env = {"GATEWAY_MEDIA_DIR": str(self.media_dir)} | gateway_media
        self.face_media_env = {"FACE_MEDIA_DIR": str(self.media_dir)} | face_media
        self.face = FaceService(work_dir, **self.face_media_env)
        self.gateway = Gateway(work_dir, self.redis.url, [self.face.address], **(self.gateway_media_env | gateway_env))
        # A Redis passed in belongs to the caller: it is neither started nor stopped here.
        processes: list[ServiceProcess] = [self.s3] if self.s3 else []
        processes += [self.face, self.gateway] if redis_server else [self.redis, self.face, self.gateway]
        super().__init__(processes)

    def media_store(self) -> MediaStore:
        """The media store the services use (a FileStore on ``media_dir``, or the S3 prefix), opened here."""
        if self.s3 is not None:
            return self.s3.store(MEDIA_PREFIX)
        return FileStore(self.media_dir)

    def task_files(self, task_id: str) -> list[str]:
        """The names of a video task's files in the media store, relative to its directory (work/plan.json...)."""
        directory = TaskMedia(task_id).directory
        return [stored.key.removeprefix(directory + "/") for stored in self.media_store().list_under(directory)]

    def logs(self) -> str:
        processes = [self.gateway, self.face, self.redis] + ([self.s3] if self.s3 else [])
        return "\n".join(process.logs() for process in processes)
