"""`make run`: scripts/run_stack.py starts Redis, the face service and the gateway in order, shows their output
under their names, stops them all on Ctrl-C/SIGTERM or when one dies; the client scripts work against it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

import run_stack
from healthcheck import http_is_ok
from processes import Service, ServiceProcess
from tests.stack import REFERENCE_DETECTIONS, REFERENCE_IMAGE, REPO_ROOT, free_port

STACK_START_TIMEOUT = 240.0


def sleeper(name: str, port: int, code: str = "import time; time.sleep(60)") -> ServiceProcess:
    """A stand-in service: any command, 'ready' at once, on a port nothing listens on."""
    return ServiceProcess(Service(name, [sys.executable, "-c", code], lambda: True, port=port, ready_timeout=10))


def run_in_thread(processes: list[ServiceProcess], stop: threading.Event) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_stack.run(processes, stop)))
    thread.start()
    return thread, result


def wait_until_started(processes: list[ServiceProcess], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.process is not None for p in processes):
        assert time.monotonic() < deadline, "services did not start"
        time.sleep(0.05)


def test_a_service_that_dies_stops_the_others_and_the_stack_fails() -> None:
    survivor = sleeper("survivor", free_port())
    crasher = sleeper("crasher", free_port(), "import time, sys; time.sleep(1); sys.exit(3)")
    stop = threading.Event()

    thread, result = run_in_thread([survivor, crasher], stop)
    thread.join(30)

    assert result == [1]
    assert survivor.process is not None and survivor.process.poll() is not None


def test_a_requested_stop_stops_every_service_newest_first_and_succeeds(capsys: pytest.CaptureFixture[str]) -> None:
    first, second = sleeper("first", free_port()), sleeper("second", free_port())
    stop = threading.Event()

    thread, result = run_in_thread([first, second], stop)
    wait_until_started([first, second])
    stop.set()
    thread.join(30)

    assert result == [0]
    assert all(s.process is not None and s.process.poll() is not None for s in (first, second))
    output = capsys.readouterr().out
    assert output.index("[second] stopping") < output.index("[first] stopping")


def test_each_line_of_service_output_carries_the_service_name(capsys: pytest.CaptureFixture[str]) -> None:
    talker = sleeper("talker", free_port(), "print('hello'); print('world', flush=True); import time; time.sleep(60)")
    stop = threading.Event()

    thread, _ = run_in_thread([talker], stop)
    deadline = time.monotonic() + 10
    seen = ""
    while "[talker] world" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen += capsys.readouterr().out
    stop.set()
    thread.join(30)

    assert "[talker] hello\n[talker] world\n" in seen


def test_a_busy_port_is_reported_and_nothing_is_started(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        busy_port = occupant.getsockname()[1]
        service = sleeper("redis", busy_port)

        code = run_stack.run([service], threading.Event())

    assert code == 1
    assert service.process is None
    assert f"port {busy_port} on 127.0.0.1 is already in use" in capsys.readouterr().out


class RunningStack(ServiceProcess):
    """scripts/run_stack.py as `make run` starts it, on free ports, its output in a log file; ready once the
    gateway's /readyz says Redis and the face service are both up (its health check, not its log)."""

    def __init__(self, work_dir: Path) -> None:
        self.ports = {"REDIS_PORT": free_port(), "FACE_GRPC_PORT": free_port(), "GATEWAY_PORT": free_port()}
        self.url = f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"
        env = os.environ | {name: str(port) for name, port in self.ports.items()}
        env["REDIS_DATA_DIR"] = str(work_dir / "redis")  # not the checkout's .run/redis
        command = [sys.executable, str(REPO_ROOT / "scripts" / "run_stack.py")]
        ready = partial(http_is_ok, f"{self.url}/readyz")
        service = Service("make run", command, ready, env, ready_timeout=STACK_START_TIMEOUT, stop_timeout=60)
        super().__init__(service, work_dir / "run_stack.log")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def lines_ending_with(self, text: str) -> list[str]:
        """The service names, as [name], of the lines that end with ``text``."""
        return [line.split()[0] for line in self.output().splitlines() if line.endswith(f"] {text}")]


def port_is_listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def running_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stack = RunningStack(tmp_path_factory.mktemp("run_stack"))
    try:
        yield stack.start()
    finally:
        stack.stop()


def run_client(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / script), *args], capture_output=True, text=True, timeout=180, check=False
    )


def test_services_start_in_order_each_once_the_previous_is_ready(running_stack: RunningStack) -> None:
    deadline = time.monotonic() + 30
    while "[stack] ready" not in running_stack.output() and time.monotonic() < deadline:
        time.sleep(0.1)  # /readyz answers just before the stack prints that it is ready
    assert running_stack.lines_ending_with("ready") == ["[redis]", "[face]", "[gateway]"]
    assert "[stack] ready" in running_stack.output()


def test_detection_script_prints_the_faces_of_the_reference_image(running_stack: RunningStack) -> None:
    expected = json.loads(REFERENCE_DETECTIONS.read_text())["result"]

    done = run_client("test_detection.py", str(REFERENCE_IMAGE), "--url", running_stack.url)

    assert done.returncode == 0, done.stderr
    assert f"{len(expected)} face(s) in {REFERENCE_IMAGE}" in done.stdout
    assert done.stdout.count("facial_area [") == len(expected)


def test_detection_script_json_output_is_pure_json_with_the_reference_boxes(running_stack: RunningStack) -> None:
    expected = [face["facial_area"] for face in json.loads(REFERENCE_DETECTIONS.read_text())["result"].values()]

    done = run_client("test_detection.py", str(REFERENCE_IMAGE), "--url", running_stack.url, "--json")

    assert done.returncode == 0, done.stderr
    found = [face["facial_area"] for face in json.loads(done.stdout)["result"].values()]
    flat = [coordinate for box in sorted(found) for coordinate in box]
    assert flat == pytest.approx([coordinate for box in sorted(expected) for coordinate in box], abs=8)


def test_blurring_script_saves_the_anonymized_image(running_stack: RunningStack, tmp_path: Path) -> None:
    output = tmp_path / "blurred.jpg"

    done = run_client("test_blurring.py", str(REFERENCE_IMAGE), "-o", str(output), "--url", running_stack.url)

    assert done.returncode == 0, done.stderr
    assert "2 face(s) anonymized" in done.stdout
    blurred = output.read_bytes()
    assert blurred[:3] == b"\xff\xd8\xff"  # a JPEG
    assert blurred != REFERENCE_IMAGE.read_bytes()


def test_client_scripts_exit_non_zero_with_the_reason_when_the_gateway_refuses(
    running_stack: RunningStack, tmp_path: Path
) -> None:
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")

    done = run_client("test_detection.py", str(not_an_image), "--url", running_stack.url)

    assert done.returncode == 1
    assert "HTTP 415" in done.stderr


def test_client_scripts_exit_non_zero_when_no_gateway_answers() -> None:
    done = run_client("test_blurring.py", str(REFERENCE_IMAGE), "--url", f"http://127.0.0.1:{free_port()}")

    assert done.returncode == 1
    assert "cannot reach the FaceBlur gateway" in done.stderr


def test_sigterm_stops_all_three_services_and_exits_zero(tmp_path: Path) -> None:
    stack = RunningStack(tmp_path).start()

    code = stack.stop()

    assert code == 0, stack.log_tail(40)
    assert not any(port_is_listening(port) for port in stack.ports.values())
    assert stack.lines_ending_with("stopping") == ["[gateway]", "[face]", "[redis]"]
