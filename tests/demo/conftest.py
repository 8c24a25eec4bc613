"""The demo as a user runs it: `python demo/app.py --url GATEWAY`, started once for these tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from healthcheck import http_is_ok
from processes import LOOPBACK, Service, ServiceProcess
from tests.stack import FACE_MODEL, REFERENCE_IMAGE, REPO_ROOT, Stack, free_port

DEMO_DIR = REPO_ROOT / "demo"
ARTIFACTS = Path(os.environ.get("FACEBLUR_TEST_ARTIFACTS", Path(__file__).parent / "artifacts"))

if TYPE_CHECKING:
    from faceblur_demo.backends import LocalBackend

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


@pytest.fixture(scope="module")
def demo_client(demo_app: DemoApp) -> Any:
    """A gradio_client of the demo page, one for the module."""
    gradio_client = pytest.importorskip("gradio_client", reason="pip install -r requirements/demo.txt")
    return gradio_client.Client(demo_app.url, verbose=False)


@pytest.fixture()
def page(demo_client: Any, demo_logs: None) -> Any:
    """The demo page through its Gradio API (gradio_client); the demo's log is printed if the test fails."""
    return demo_client


@pytest.fixture()
def local_backend() -> LocalBackend:
    """The demo's in-process backend, as with no --url: the tabs built on it need gradio, else the test skips."""
    pytest.importorskip("gradio", reason="the demo needs gradio: pip install -r requirements/demo.txt")
    from faceblur_demo.backends import LocalBackend

    return LocalBackend(FACE_MODEL, threads=1)


def shopping_list(path: Path) -> Path:
    """A text file under a photo's or a video's name (notes.jpg): what a user may pick by mistake."""
    path.write_text("shopping list: milk, eggs")
    return path


def markdown_shown(build_tab: Callable[..., object], backend: LocalBackend) -> list[str]:
    """The text of the Markdown blocks of a demo tab built on ``backend``."""
    import gradio as gr
    from faceblur_demo.ui import ResultFiles

    with gr.Blocks() as tab:
        build_tab(backend, ResultFiles())
    return [block.value for block in tab.blocks.values() if isinstance(block, gr.Markdown)]
