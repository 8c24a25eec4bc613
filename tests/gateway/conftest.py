"""Fixtures the gateway tests share (the stack, its gateway and clients are tests/conftest.py's)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.stack import Gateway, Stack
from tests.videos import write_clip


@pytest.fixture()
def prefix() -> str:
    """A Redis key prefix (tasks, job stream) of the test's own."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two seconds (50 frames) at 25 fps, 480 x 270, with audio: the reference photo's two faces panned across."""
    return write_clip(tmp_path_factory.mktemp("clips") / "walk.mp4", seconds=2.0, fps=25, size=(480, 270))


@pytest.fixture
def make_stack_gateway(stack: Stack, make_gateway: Callable[..., Gateway]) -> Callable[..., Gateway]:
    """Start another gateway on the stack's Redis, face service and media store; settings as keyword arguments."""

    def make(**env: str) -> Gateway:
        return make_gateway(stack.redis.url, [stack.face.address], **(stack.gateway_media_env | env))

    return make
