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
from dataclasses import replace
from pathlib import Path

from processes import (  # scripts/processes.py, beside this file
    LOOPBACK,
    ROOT,
    NotReady,
    ServiceGroup,
    ServiceProcess,
    face_service,
    gateway_service,
    redis_service,
    say,
)

DEFAULT_REDIS_DATA_DIR = ROOT / ".run" / "redis"
STOP_TIMEOUT_SECONDS = 40.0  # the face service lets jobs in flight finish (FACE_SHUTDOWN_GRACE_SECONDS, 30)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        # As the servers do: connections of an earlier run in TIME_WAIT must not count as "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def redis_server_binary() -> str:
    found = subprocess.run([ROOT / "scripts" / "ensure_redis.sh"], check=True, stdout=subprocess.PIPE, text=True)
    return found.stdout.strip()


def stack_processes(env: dict[str, str]) -> list[ServiceProcess]:
    """Redis, the face service and the gateway, on the ports the environment asks for; output on stdout."""
    redis_port = int(env.get("REDIS_PORT", 6379))
    face_port = int(env.get("FACE_GRPC_PORT", 50051))
    gateway_port = int(env.get("GATEWAY_PORT", 8000))
    redis_data_dir = Path(env.get("REDIS_DATA_DIR", DEFAULT_REDIS_DATA_DIR))
    gateway_env = {
        **env,
        "REDIS_URL": f"redis://{LOOPBACK}:{redis_port}/0",
        "FACE_SERVICE_ADDRESSES": f"{LOOPBACK}:{face_port}",
    }
    services = [
        redis_service(redis_server_binary(), redis_port, redis_data_dir),
        face_service(face_port, env, ready_timeout=300),  # loading and warming up the model takes a while
        gateway_service(gateway_port, gateway_env),
    ]
    return [ServiceProcess(replace(service, stop_timeout=STOP_TIMEOUT_SECONDS)) for service in services]


def run(processes: list[ServiceProcess], stop: threading.Event) -> int:
    """Starts the processes in order and supervises them until `stop` is set or one exits; 0 on a requested stop."""
    taken = [p for p in processes if p.service.port is not None and not port_is_free(p.service.port)]
    for process in taken:
        say(process.name, f"port {process.service.port} on {LOOPBACK} is already in use (another copy running?)")
    if taken:
        return 1
    group = ServiceGroup(processes)
    try:
        group.start(stop)
        say("stack", f"ready: http://{LOOPBACK}:{processes[-1].service.port} (API docs at /docs); Ctrl-C stops it")
        while not stop.wait(0.5):
            exited = group.first_exited()
            if exited is not None:
                say(exited.name, f"exited with code {exited.returncode}; stopping the others")
                return 1
        return 0
    except NotReady:  # the process has said why
        return 0 if stop.is_set() else 1
    finally:
        group.stop()


def main() -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    code = run(stack_processes(dict(os.environ)), stop)
    say("stack", "stopped" if code == 0 else f"stopped (exit code {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
