"""Real processes for integration tests: redis-server, the face service and the gateway, each on a free port.

Every process logs to its own file; when one fails to start, the error carries the end of that log.
``kill()`` is kill -9 (no cleanup, as in a crash), ``restart()`` brings the process back on the same port
(and, for Redis, the same data directory, so its append-only file is replayed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import grpc
import httpx
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACEBLUR_SHARED", REPO_ROOT.parent / "shared"))
FACE_MODEL = Path(os.environ.get("FACE_MODEL", SHARED / "models" / "yolov8n-face_int8.tflite"))
REFERENCE_IMAGE = SHARED / "data" / "reference" / "test.jpg"
REFERENCE_DETECTIONS = SHARED / "data" / "reference" / "expected_detect.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
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


class ManagedProcess:
    """A child process with a log file, a readiness probe, kill -9 and restart."""

    name = "process"
    ready_timeout = 60.0

    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.argv = argv
        self.env = dict(env)
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> ManagedProcess:
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== starting {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode if self.process else None}:\n{self.log_tail()}"
                )
            if self.is_ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} not ready after {self.ready_timeout:g} s:\n{self.log_tail()}")

    def is_ready(self) -> bool:
        raise NotImplementedError

    def kill(self) -> None:
        """kill -9: the process gets no chance to clean up."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but does nothing, like a hung service."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then kill -9 if it has not exited within ``timeout``."""
        if not self.running:
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)  # in case it was paused
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        return "\n".join(text.splitlines()[-lines:])


class RedisServer(ManagedProcess):
    name = "redis-server"
    ready_timeout = 20.0

    def __init__(self, work_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        data_dir = work_dir / f"redis-{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            find_redis_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(data_dir),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
        ]  # fmt: skip
        super().__init__(argv, os.environ, work_dir / f"redis-{self.port}.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def is_ready(self) -> bool:
        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


class FaceService(ManagedProcess):
    name = "face service"

    def __init__(self, work_dir: Path, port: int | None = None, **env: str) -> None:
        self.port = port or free_port()
        environment = os.environ | {
            "FACE_MODEL": str(FACE_MODEL),
            "FACE_GRPC_HOST": "127.0.0.1",
            "FACE_GRPC_PORT": str(self.port),
            **env,
        }
        super().__init__(
            [sys.executable, "-m", "face_detection_service"], environment, work_dir / f"face-{self.port}.log"
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def is_ready(self) -> bool:
        with grpc.insecure_channel(self.address) as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="faceblur.v1.FaceDetection"), timeout=1
                )
            except grpc.RpcError:
                return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING


class Gateway(ManagedProcess):
    name = "gateway"

    def __init__(
        self, work_dir: Path, redis_url: str, face_addresses: list[str], port: int | None = None, **env: str
    ) -> None:
        self.port = port or free_port()
        environment = os.environ | {
            "REDIS_URL": redis_url,
            "FACE_SERVICE_ADDRESSES": ",".join(face_addresses),
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.port),
            **env,
        }
        super().__init__([sys.executable, "-m", "gateway_service"], environment, work_dir / f"gateway-{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)

    def is_ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


class StandaloneDispatcher(ManagedProcess):
    """``python -m gateway_service.dispatcher``: the dispatcher without the HTTP API."""

    name = "dispatcher"

    def __init__(self, work_dir: Path, redis_url: str, face_addresses: list[str], **env: str) -> None:
        environment = os.environ | {"REDIS_URL": redis_url, "FACE_SERVICE_ADDRESSES": ",".join(face_addresses), **env}
        log_path = work_dir / f"dispatcher-{free_port()}.log"
        super().__init__([sys.executable, "-m", "gateway_service.dispatcher"], environment, log_path)

    def is_ready(self) -> bool:
        return " started (face services:" in self.log_tail(200)


class Stack:
    """Redis, one face service and one gateway wired together; ``gateway_env`` tunes the gateway."""

    def __init__(self, work_dir: Path, redis_server: RedisServer | None = None, **gateway_env: str) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir = work_dir
        self._owns_redis = redis_server is None
        self.redis = redis_server or RedisServer(work_dir)
        self.face = FaceService(work_dir)
        self.gateway = Gateway(work_dir, self.redis.url, [self.face.address], **gateway_env)

    def start(self) -> Stack:
        if not self.redis.running:
            self.redis.start()
        self.face.start()
        self.gateway.start()
        return self

    def stop(self) -> None:
        self.gateway.stop()
        self.face.stop()
        if self._owns_redis:
            self.redis.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ({p.log_path})\n{p.log_tail()}" for p in (self.gateway, self.face, self.redis))
