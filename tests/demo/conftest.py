"""The demo as a user runs it: `python demo/app.py --url GATEWAY`, started once for these tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthcheck import http_is_ok
from processes import LOOPBACK, Service, ServiceProcess
from tests.stack import REFERENCE_IMAGE, REPO_ROOT, Stack, free_port

DEMO_DIR = REPO_ROOT / "demo"
ARTIFACTS = Path(os.environ.get("FACEBLUR_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))

if str(DEMO_DIR) not in sys.path:  # the demo's own package, as app.py imports it
    sys.path.insert(0, str(DEMO_DIR))


class DemoApp(ServiceProcess):
    def __init__(self, work_dir: Path, gateway_url: str) -> None:
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}/"
        env = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "FACEBLUR_EXAMPLES": str(REFERENCE_IMAGE)}
        command = [sys.executable, str(DEMO_DIR / "app.py"), "--url", gateway_url, "--port", str(self.port)]
        # Importing Gradio alone takes several seconds on a busy 2-core machine.
        service = Service("demo", command, lambda: http_is_ok(self.url), env, self.port, ready_timeout=120)
        super().__init__(service, work_dir / f"demo-{self.port}.log")


@pytest.fixture(scope="session")
def demo_app(stack: Stack, work_dir: Path) -> Iterator[DemoApp]:
    pytest.importorskip("gradio", reason="the demo needs gradio: pip install -r requirements/demo.txt")
    app = DemoApp(work_dir, stack.gateway.url)
    app.start()
    yield app
    app.stop()


@pytest.fixture()
def demo_logs(demo_app: DemoApp, request: pytest.FixtureRequest) -> Iterator[None]:
    """Prints the demo's log when the test fails."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        print(demo_app.logs())
