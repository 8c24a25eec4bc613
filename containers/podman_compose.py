"""docker-compose against podman, for machines without a Docker engine (the project's Debian machines, CI).

    sudo python3 containers/podman_compose.py up --build     # the stack of docker-compose.yml; Ctrl-C stops it
    sudo python3 containers/podman_compose.py down -v        # remove its containers, network and volume
    export COMPOSE_FILE=docker-compose.yml:docker-compose.s3.yml   # videos in S3 (a SeaweedFS service), then
    sudo -E python3 containers/podman_compose.py up --build --scale face-service=3    # (and down -v the same way)

Any docker-compose arguments work. COMPOSE_FILE (docker-compose's own variable: files separated by ':', relative
to the repository) picks the compose files, docker-compose.yml alone by default. Before running docker-compose
this makes sure the base images exist (containers/build_bases.sh: stand-ins for python:3.11-slim, redis:7 and
chrislusf/seaweedfs where none can be pulled), starts podman's Docker-compatible API service on a private socket
and points DOCKER_HOST at it, and stops the service afterwards. Podman here runs as root with
containers/containers.conf (runc, cgroupfs, netavark).

What podman does differently from Docker, and how it is made up for (nothing of it is in the Dockerfile or
docker-compose.yml, which stay as Docker users run them):
- image builds run with chroot isolation (BUILDAH_ISOLATION=chroot in the API service's environment);
- without systemd, podman never runs the images' HEALTHCHECKs on its own: while docker-compose runs, a
  thread here runs them (`podman healthcheck run`) every few seconds for the project's containers, so that
  `depends_on: condition: service_healthy` and the health shown by `podman ps` work. After a detached
  `up -d` returns, health is no longer refreshed: keep `up` attached (or use tests/containers).
Restart policies need nothing: conmon restarts a container whose process dies.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
CONTAINERS_CONF = HERE / "containers.conf"
COMPOSE_FILES = [REPO_ROOT / "docker-compose.yml"]
S3_COMPOSE_FILES = [*COMPOSE_FILES, REPO_ROOT / "docker-compose.s3.yml"]  # videos in S3 (SeaweedFS)
DEFAULT_PROJECT = "faceblur"
HEALTH_TICK_SECONDS = 3.0
REQUIRED_COMMANDS = ("podman", "runc", "docker-compose")
NETWORK_HELPERS = ("/usr/lib/podman/netavark", "/usr/lib/podman/aardvark-dns")


def podman_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**(os.environ if base is None else base), "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def missing_prerequisites() -> str | None:
    """Why podman cannot run FaceBlur's containers here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "podman containers need Linux"
    if os.geteuid() != 0:
        return "podman runs the containers as root here (rootful podman with runc); run as root"
    missing = [name for name in REQUIRED_COMMANDS if shutil.which(name) is None]
    missing += [Path(path).name for path in NETWORK_HELPERS if not Path(path).exists()]
    if missing:
        return f"missing {', '.join(missing)} (`make container-deps` installs them: containers/install.sh)"
    return None


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    done = subprocess.run(
        ["podman", *args], env=podman_env(), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def compose_files(environ: Mapping[str, str] | None = None) -> list[Path]:
    """COMPOSE_FILE's files (':'-separated, relative to the repository), else docker-compose.yml."""
    named = (os.environ if environ is None else environ).get("COMPOSE_FILE", "")
    return [REPO_ROOT / name for name in named.split(os.pathsep) if name] or list(COMPOSE_FILES)


def build_base_images(timeout: float = 900) -> None:
    """Stand-ins for python:3.11-slim, redis:7 and chrislusf/seaweedfs where they are missing (see
    containers/build_bases.sh)."""
    subprocess.run([str(HERE / "build_bases.sh")], env=podman_env(), check=True, timeout=timeout)


class PodmanEngine:
    """Podman's Docker-compatible API on a private unix socket, plus the healthcheck runner (see above)."""

    def __init__(
        self, project: str = DEFAULT_PROJECT, work_dir: Path | None = None, files: Sequence[Path] | None = None
    ) -> None:
        self.project = project
        self.files = list(COMPOSE_FILES if files is None else files)
        self._own_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="faceblur-podman-")) if work_dir is None else work_dir
        self.socket_path = self.work_dir / "podman.sock"
        self.log_path = self.work_dir / "podman-service.log"
        self._service: subprocess.Popen[bytes] | None = None
        self._stop_ticking = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout: float = 30) -> PodmanEngine:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        env = podman_env() | {"BUILDAH_ISOLATION": "chroot"}
        with open(self.log_path, "ab") as log:
            self._service = subprocess.Popen(
                ["podman", "system", "service", "--time=0", self.docker_host],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._service.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"podman system service did not start; see {self.log_path}")
            time.sleep(0.2)
        self._stop_ticking.clear()
        self._ticker = threading.Thread(target=self._run_healthchecks, name="podman-healthchecks", daemon=True)
        self._ticker.start()
        return self

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.settimeout(2)
                probe.connect(str(self.socket_path))
                probe.sendall(b"GET /_ping HTTP/1.0\r\nHost: podman\r\n\r\n")
                return b" 200 " in probe.recv(64)
        except OSError:
            return False

    def _run_healthchecks(self) -> None:
        label = f"label=com.docker.compose.project={self.project}"
        while not self._stop_ticking.wait(HEALTH_TICK_SECONDS):
            try:
                running = podman("ps", "--quiet", "--filter", label, check=False, timeout=30).split()
                for container in running:  # containers without a HEALTHCHECK just answer an error
                    podman("healthcheck", "run", container, check=False, timeout=30)
            except subprocess.TimeoutExpired:
                continue

    def compose_command(self, *args: str) -> list[str]:
        files = [arg for path in self.files for arg in ("-f", str(path))]
        return ["docker-compose", *files, "--project-name", self.project, *args]

    def compose_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # COMPOSE_DOCKER_CLI_BUILD=0: docker-compose builds through the API, as it does everything else, instead of
        # running a `docker` command, which a machine with podman only does not have.
        env = {"DOCKER_HOST": self.docker_host, "COMPOSE_DOCKER_CLI_BUILD": "0"}
        return podman_env() | env | dict(extra or {})

    def compose(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run docker-compose ARGS, output captured (raises with its output when it fails and check is set)."""
        done = subprocess.run(
            self.compose_command(*args),
            cwd=REPO_ROOT,
            env=self.compose_env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            output = done.stdout + done.stderr
            raise RuntimeError(f"docker-compose {' '.join(args)} failed ({done.returncode}):\n{output}")
        return done

    def stop(self) -> None:
        self._stop_ticking.set()
        if self._ticker is not None:
            self._ticker.join(timeout=40)
            self._ticker = None
        if self._service is not None and self._service.poll() is None:
            self._service.terminate()
            try:
                self._service.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._service.kill()
                self._service.wait()
        self._service = None
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    reason = missing_prerequisites()
    if reason:
        print(f"podman_compose: {reason}", file=sys.stderr)
        return 1
    build_base_images()
    project = os.environ.get("COMPOSE_PROJECT_NAME", DEFAULT_PROJECT)
    engine = PodmanEngine(project, files=compose_files()).start()
    try:  # attached: docker-compose has the terminal, and handles Ctrl-C itself (stops the containers)
        compose = subprocess.Popen(engine.compose_command(*argv), cwd=REPO_ROOT, env=engine.compose_env())
        while True:
            try:
                return compose.wait()
            except KeyboardInterrupt:
                continue
    finally:
        engine.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
