"""Real face-service processes on free ports, with the real model, and the shared reference data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.stack import REFERENCE_DETECTIONS as REFERENCE_RESULT
from tests.stack import REFERENCE_IMAGE, REPO_ROOT, SHARED, free_port

__all__ = ["MODEL", "REFERENCE_IMAGE", "REFERENCE_RESULT", "FaceServiceProcess"]

MODEL = SHARED / "models" / "yolov8n-face_int8.tflite"


class FaceServiceProcess:
    def __init__(self, **env: str):
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"face-service-{self.port}.log"
        environment = os.environ | {
            "FACE_MODEL": str(MODEL),
            "FACE_GRPC_PORT": str(self.port),
            "FACE_GRPC_HOST": "127.0.0.1",
            **env,
        }
        self._log = open(self.log_path, "w")  # noqa: SIM115 -- open for the process's lifetime, closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "face_detection_service"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.wait_until_serving()

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"face service exited early:\n{self.log()}")
                try:
                    if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        return
                except grpc.RpcError:
                    time.sleep(0.2)
        raise TimeoutError(f"face service not serving after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()
