"""Run the whole FaceBlur stack in the foreground: Redis, the face service, then the gateway (`make run`).

Each service starts once the one before it answers its readiness check, and its output is shown with its
name in front. Ctrl-C or SIGTERM stops all of them, newest first; if one exits on its own, the others are
stopped and this script exits non-zero.

Settings (environment variables): REDIS_PORT (6379), FACE_GRPC_PORT (50051), GATEWAY_PORT (8000), and
REDIS_DATA_DIR (.run/redis), where Redis keeps its data with append-only persistence. Everything else passes
through to the services unchanged: FACE_MODEL, FACE_WORKERS, GATEWAY_LOG_LEVEL...
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from healthcheck import grpc_is_serving, http_is_ok  # scripts/healthcheck.py, beside this file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_DATA_DIR = ROOT / ".run" / "redis"
LOOPBACK = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 40.0  # the face service lets jobs in flight finish (FACE_SHUTDOWN_GRACE_SECONDS, 30)
_output_lock = threading.Lock()


@dataclass
class Service:
    name: str
    command: list[str]
    port: int
    is_ready: Callable[[], bool]
    ready_timeout_seconds: float
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def say(name: str, text: str) -> None:
    write_line(name, text.encode() + b"\n")


def write_line(name: str, line: bytes) -> None:
    with _output_lock:
        sys.stdout.buffer.write(f"[{name}] ".encode() + line)
        sys.stdout.buffer.flush()


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers do: connections of an earlier run in TIME_WAIT must not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def redis_answers_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=LOOPBACK, port=port, socket_timeout=1).ping())
    except redis.RedisError:  # refused, or still loading its append-only file
        return False


def redis_server_binary() -> str:
    found = subprocess.run([ROOT / "scripts" / "ensure_redis.sh"], check=True, stdout=subprocess.PIPE, text=True)
    return found.stdout.strip()


def stack_services(env: dict[str, str]) -> list[Service]:
    redis_data_dir = Path(env.get("REDIS_DATA_DIR", DEFAULT_REDIS_DATA_DIR))
    redis_data_dir.mkdir(parents=True, exist_ok=True)
    redis_port = int(env.get("REDIS_PORT", 6379))
    face_port = int(env.get("FACE_GRPC_PORT", 50051))
    gateway_port = int(env.get("GATEWAY_PORT", 8000))
    redis_command = [
        redis_server_binary(),
        "--port", str(redis_port),
        "--bind", LOOPBACK,
        "--dir", str(redis_data_dir),
        "--appendonly", "yes",
    ]  # fmt: skip
    return [
        Service("redis", redis_command, redis_port, lambda: redis_answers_ping(redis_port), 30),
        Service(
            "face",
            [sys.executable, "-m", "face_detection_service"],
            face_port,
            lambda: grpc_is_serving(f"{LOOPBACK}:{face_port}"),
            300,  # loading and warming up the model takes a while on a small machine
        ),
        Service(
            "gateway",
            [sys.executable, "-m", "gateway_service"],
            gateway_port,
            lambda: http_is_ok(f"http://{LOOPBACK}:{gateway_port}/healthz"),
            60,
        ),
    ]


def service_env(env: dict[str, str], services: list[Service]) -> dict[str, str]:
    """The environment every service gets: the caller's, with the addresses of the services it talks to."""
    ports = {service.name: service.port for service in services}
    return {
        **env,
        "PYTHONUNBUFFERED": "1",
        "REDIS_URL": f"redis://{LOOPBACK}:{ports['redis']}/0",
        "FACE_GRPC_PORT": str(ports["face"]),
        "FACE_SERVICE_ADDRESSES": f"{LOOPBACK}:{ports['face']}",
        "GATEWAY_PORT": str(ports["gateway"]),
    }


def start(service: Service, env: dict[str, str]) -> None:
    say(service.name, "starting: " + " ".join(service.command))
    # A session of its own keeps the terminal's Ctrl-C away from it: the supervisor stops services in order.
    service.process = subprocess.Popen(
        service.command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    threading.Thread(target=copy_output, args=(service,), daemon=True).start()


def copy_output(service: Service) -> None:
    assert service.process is not None and service.process.stdout is not None
    for line in service.process.stdout:
        write_line(service.name, line)


def wait_until_ready(service: Service, stop: threading.Event) -> bool:
    assert service.process is not None
    deadline = time.monotonic() + service.ready_timeout_seconds
    while not stop.is_set():
        if service.process.poll() is not None:
            say(service.name, f"exited with code {service.process.returncode} before it was ready")
            return False
        if service.is_ready():
            say(service.name, "ready")
            return True
        if time.monotonic() > deadline:
            say(service.name, f"not ready after {service.ready_timeout_seconds:.0f} s")
            return False
        stop.wait(0.5)
    return False


def stop_service(service: Service) -> None:
    process = service.process
    if process is None or process.poll() is not None:
        return
    say(service.name, "stopping")
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        say(service.name, f"still running after {STOP_TIMEOUT_SECONDS:.0f} s; killing it")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def first_exited(services: list[Service]) -> Service | None:
    return next((s for s in services if s.process is not None and s.process.poll() is not None), None)


def run(services: list[Service], env: dict[str, str], stop: threading.Event) -> int:
    """Starts the services in order and supervises them until `stop` is set or one exits; 0 on a requested stop."""
    taken = [s for s in services if not port_is_free(s.port)]
    for service in taken:
        say(service.name, f"port {service.port} on {LOOPBACK} is already in use (another copy running?)")
    if taken:
        return 1
    started: list[Service] = []
    try:
        for service in services:
            start(service, env)
            started.append(service)
            if not wait_until_ready(service, stop):
                return 0 if stop.is_set() else 1
        gateway = services[-1]
        say("stack", f"ready: http://{LOOPBACK}:{gateway.port} (API docs at /docs); Ctrl-C stops it")
        while not stop.wait(0.5):
            exited = first_exited(started)
            if exited is not None:
                assert exited.process is not None
                say(exited.name, f"exited with code {exited.process.returncode}; stopping the others")
                return 1
        return 0
    finally:
        for service in reversed(started):
            stop_service(service)


def main() -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    env = dict(os.environ)
    services = stack_services(env)
    code = run(services, service_env(env, services), stop)
    say("stack", "stopped" if code == 0 else f"stopped (exit code {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
