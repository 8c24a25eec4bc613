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
from pathlib import Path

import httpx
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT / "scripts") not in sys.path:  # pytest puts it there (pyproject.toml); bench/ imports us too
    sys.path.append(str(REPO_ROOT / "scripts"))

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


def find_redis_server() -> str:
    """REDIS_SERVER_BIN, else redis-server on PATH, else one scripts/ensure_redis.sh unpacked from PyPI."""
    candidates = [
        os.environ.get("REDIS_SERVER_BIN"),
        shutil.which("redis-server"),
        REPO_ROOT / ".venv/redis-server/redis_server/bin/redis-server",
        REPO_ROOT / ".run/bin/redis-server",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(
        "no redis-server binary: the gateway tests run a real Redis. Install one (apt-get install redis-server, "
        "or scripts/ensure_redis.sh) or point REDIS_SERVER_BIN at it."
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


class Stack(ServiceGroup):
    """Redis, one face service and one gateway wired together; ``gateway_env`` tunes the gateway."""

    def __init__(self, work_dir: Path, redis_server: RedisServer | None = None, **gateway_env: str) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        self.redis = redis_server or RedisServer(work_dir)
        # Videos: the gateway and the face service share this directory, as they would share a volume.
        self.media_dir = Path(gateway_env.pop("GATEWAY_MEDIA_DIR", work_dir / "media"))
        self.face = FaceService(work_dir, FACE_MEDIA_DIR=str(self.media_dir))
        self.gateway = Gateway(
            work_dir, self.redis.url, [self.face.address], GATEWAY_MEDIA_DIR=str(self.media_dir), **gateway_env
        )
        # A Redis passed in belongs to the caller: it is neither started nor stopped here.
        super().__init__([self.face, self.gateway] if redis_server else [self.redis, self.face, self.gateway])

    def logs(self) -> str:
        return "\n".join(process.logs() for process in (self.gateway, self.face, self.redis))
