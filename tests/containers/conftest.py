"""The container tests' HTTP client: each module runs one compose stack, its module-scoped ``compose_stack``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.containers.stacks import ComposeStack


@pytest.fixture()
def api(compose_stack: ComposeStack, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A client of the module's stack's gateway; the stack's logs are printed if the test fails."""
    with httpx.Client(base_url=compose_stack.url, timeout=60) as client:
        yield client
    report = getattr(request.node, "report_call", None)
    if report is None or report.failed:
        print(compose_stack.logs())
