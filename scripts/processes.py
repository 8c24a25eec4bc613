"""One process harness for `make run` (scripts/run_stack.py) and the tests (tests/stack.py).

A ``Service`` says what to run and how to tell that it is ready (its health check: never its log). A
``ServiceProcess`` is one running copy of a service: start it (which waits until the check passes), stop it
(SIGTERM, then kill -9 after a timeout), or kill, pause and resume it. Its output goes to a log file or, without
one, to stdout with ``[name]`` in front of each line. A ``ServiceGroup`` starts processes in order, each once the
one before it is ready, and stops them newest first. N processes of one service are N ``ServiceProcess``es of
that ``Service`` (``dataclasses.replace`` it for other names or ports).

The FaceBlur services themselves: ``redis_service``, ``face_service``, ``gateway_service``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from healthcheck import grpc_is_serving, http_is_ok  # scripts/healthcheck.py, beside this file

if TYPE_CHECKING:
    from typing import Self

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
FACE_HEALTH_SERVICE = "faceblur.v1.FaceDetection"
POLL_SECONDS = 0.1
_stdout_lock = threading.Lock()


@dataclass(frozen=True)
class Service:
    """What to run (in the checkout's root) and how to tell that it is ready."""

    name: str
    command: Sequence[str]
    is_ready: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    port: int | None = None  # the port it listens on, when it has one
    ready_timeout: float = 60.0
    stop_timeout: float = 15.0


class NotReady(RuntimeError):
    """The process exited, its readiness check did not pass in time, or a stop was requested meanwhile."""


def say(name: str, text: str) -> None:
    """One line on stdout, with ``[name]`` in front."""
    _write_line(name, text.encode() + b"\n")


def _write_line(name: str, line: bytes) -> None:
    with _stdout_lock:
        sys.stdout.buffer.write(f"[{name}] ".encode() + line)
        sys.stdout.buffer.flush()


class ServiceProcess:
    """One running copy of a ``Service``; output to ``log_path``, or to stdout line by line without one."""

    def __init__(self, service: Service, log_path: Path | None = None) -> None:
        self.service = service
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def start(self, stop: threading.Event | None = None) -> Self:
        """Launch the process and wait until it is ready (see ``wait_ready``); stopped again if it is not."""
        self.launch()
        try:
            self.wait_ready(stop)
        except NotReady:
            self.stop()
            raise
        return self

    def launch(self) -> None:
        """Start the process, in a session of its own (a terminal's Ctrl-C is for the supervisor, not for it)."""
        self.note("starting: " + " ".join(self.service.command))
        log = None if self.log_path is None else open(self.log_path, "ab")  # noqa: SIM115 -- closed below
        try:
            self.process = subprocess.Popen(
                self.service.command,
                cwd=ROOT,
                env={**self.service.env, "PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if log is None else log,  # the child keeps its own copy of the log file
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log is not None:
                log.close()
        if log is None:
            threading.Thread(target=self._copy_output_to_stdout, daemon=True).start()

    def wait_ready(self, stop: threading.Event | None = None) -> None:
        """Poll the readiness check until it passes; NotReady if the process exits first, the service's
        ready_timeout passes, or ``stop`` is set."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + self.service.ready_timeout
        while True:
            if not self.running:
                self._fail(f"exited with code {self.returncode} before it was ready")
            if self.service.is_ready():
                self.note("ready")
                return
            if stop.is_set():
                self._fail("asked to stop before it was ready")
            if time.monotonic() > deadline:
                self._fail(f"not ready after {self.service.ready_timeout:g} s")
            stop.wait(POLL_SECONDS)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM (after SIGCONT, in case it is paused), then kill -9 if it has not exited within ``timeout``
        (default: the service's stop_timeout). Returns its exit code."""
        if not self.running:
            return self.returncode
        assert self.process is not None
        timeout = self.service.stop_timeout if timeout is None else timeout
        self.note("stopping")
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.note(f"still running after {timeout:g} s; killing it")
            self.kill()
        return self.returncode

    def kill(self) -> None:
        """kill -9 of the process and its children: no cleanup, as in a crash."""
        if self.running:
            os.killpg(self.pid, signal.SIGKILL)
            assert self.process is not None
            self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but does nothing, like a hung service."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def note(self, text: str) -> None:
        """A line of the harness's own in the process's output."""
        if self.log_path is None:
            say(self.name, text)
        else:
            with open(self.log_path, "ab") as log:
                log.write(f"=== {text}\n".encode())

    def log_tail(self, lines: int = 60) -> str:
        if self.log_path is None:
            return "(output on stdout)"
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_path})"
        return "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return f"--- {self.name} ({self.log_path})\n{self.log_tail()}"

    def _fail(self, reason: str) -> None:
        self.note(reason)
        tail = f":\n{self.log_tail()}" if self.log_path is not None else ""
        raise NotReady(f"{self.name} {reason}{tail}")

    def _copy_output_to_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            _write_line(self.name, line)


class ServiceGroup:
    """Processes started in order, each once the one before it is ready; stopped newest first."""

    def __init__(self, processes: Sequence[ServiceProcess]) -> None:
        self.processes = list(processes)

    def start(self, stop: threading.Event | None = None) -> Self:
        for process in self.processes:
            process.start(stop)
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def first_exited(self) -> ServiceProcess | None:
        return next((p for p in self.processes if p.process is not None and not p.running), None)


# --- the FaceBlur services -------------------------------------------------------------------------------------


def redis_answers_ping(url: str) -> bool:
    import redis

    try:
        with redis.Redis.from_url(url, socket_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:  # refused, or still loading its append-only file
        return False


def redis_service(binary: str, port: int, data_dir: Path, *options: str, ready_timeout: float = 30.0) -> Service:
    """redis-server on loopback, keeping its data in ``data_dir`` with append-only persistence."""
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [binary, "--port", str(port), "--bind", LOOPBACK, "--dir", str(data_dir), "--appendonly", "yes", *options]
    url = f"redis://{LOOPBACK}:{port}/0"
    return Service("redis", command, lambda: redis_answers_ping(url), port=port, ready_timeout=ready_timeout)


def face_service(port: int, env: Mapping[str, str], ready_timeout: float = 60.0, host: str = LOOPBACK) -> Service:
    """``python -m face_detection_service`` on ``port``; ready once it answers the gRPC health check on ``host``
    (where ``env``'s FACE_GRPC_HOST has it listen)."""
    ready = partial(grpc_is_serving, f"{host}:{port}", service=FACE_HEALTH_SERVICE)
    return _python_module("face", "face_detection_service", ready, env, "FACE_GRPC_PORT", port, ready_timeout)


def gateway_service(port: int, env: Mapping[str, str], ready_timeout: float = 60.0) -> Service:
    """``python -m gateway_service`` on ``port``; ready once ``/healthz`` answers 200."""
    ready = partial(http_is_ok, f"http://{LOOPBACK}:{port}/healthz")
    return _python_module("gateway", "gateway_service", ready, env, "GATEWAY_PORT", port, ready_timeout)


def _python_module(
    name: str,
    module: str,
    is_ready: Callable[[], bool],
    env: Mapping[str, str],
    port_setting: str,
    port: int,
    ready_timeout: float,
) -> Service:
    """``python -m MODULE``, told its port in the environment variable ``port_setting``."""
    command = [sys.executable, "-m", module]
    return Service(name, command, is_ready, {**env, port_setting: str(port)}, port, ready_timeout)
