"""Webhooks: a finished task's JSON POSTed, HMAC-signed, to the callback_url given with the upload."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.gateway.helpers import reference_jpeg, small_jpeg, submit, wait_for
from tests.stack import Gateway, RedisServer, Stack

SECRET = "test-webhook-secret"


@dataclass
class Call:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers with the next of ``statuses``."""

    statuses: list[int] = field(default_factory=lambda: [200])
    calls: list[Call] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/faceblur"

    def wait_for_calls(self, count: int, timeout: float = 30.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"{len(self.calls)} webhook call(s) after {timeout:g} s, not {count}"
            time.sleep(0.05)
        return self.calls


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.calls.append(Call({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.statuses[min(len(state.calls), len(state.statuses)) - 1]
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def webhooks_on(prefix: str) -> dict[str, str]:
    """Gateway settings: webhooks turned on (a secret to sign with), and a job stream of its own under ``prefix``."""
    return {"GATEWAY_KEY_PREFIX": prefix, "GATEWAY_WEBHOOK_SECRET": SECRET}


@pytest.fixture()
def webhook_gateway(
    make_gateway: Callable[..., Gateway], redis_server: RedisServer, stack: Stack
) -> Iterator[httpx.Client]:
    """A gateway that may call back to this host, with its own job stream (the session face service)."""
    gateway = make_gateway(
        redis_server.url,
        [stack.face.address],
        **webhooks_on("webhooks"),
        GATEWAY_WEBHOOK_ALLOW_PRIVATE="true",
        GATEWAY_WEBHOOK_BACKOFF_SECONDS="0.2",
    )
    with gateway.client() as client:
        yield client


def expected_signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def webhook_state(api: httpx.Client, task_id: str, final: str, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while (webhook := api.get(f"/task_result/{task_id}").json()["webhook"])["status"] != final:
        assert time.monotonic() < deadline, f"webhook still {webhook}"
        time.sleep(0.05)
    return webhook


def test_a_finished_task_is_posted_signed_to_its_callback_url(
    webhook_gateway: httpx.Client, receiver: Receiver
) -> None:
    done = submit(webhook_gateway, "detect_faces", reference_jpeg(), callback_url=receiver.url)
    failed = submit(webhook_gateway, "blur_faces", b"\xff\xd8\xff\xe0" + bytes(2000), callback_url=receiver.url)

    calls = {call.headers["x-faceblur-task-id"]: call for call in receiver.wait_for_calls(2)}
    assert set(calls) == {done, failed}
    for task_id, call in calls.items():
        assert call.headers["content-type"] == "application/json"
        assert call.headers["x-faceblur-signature"] == expected_signature(call.body), "signature does not match"
        posted = json.loads(call.body)
        stored = wait_for(webhook_gateway, task_id)
        assert posted["task_id"] == task_id and posted["status"] == stored["status"]
        assert {k: v for k, v in posted.items() if k != "webhook"} == {
            k: v for k, v in stored.items() if k != "webhook"
        }
        assert webhook_state(webhook_gateway, task_id, "delivered") == {
            "url": receiver.url,
            "status": "delivered",
            "attempts": 1,
        }
    assert json.loads(calls[done].body)["face_count"] == 2
    assert json.loads(calls[failed].body)["status"] == "FAILURE"


def test_a_receiver_that_fails_is_tried_again(webhook_gateway: httpx.Client, receiver: Receiver) -> None:
    receiver.statuses = [500, 200]
    task_id = submit(webhook_gateway, "detect_faces", small_jpeg(), callback_url=receiver.url)

    first, second = receiver.wait_for_calls(2)
    assert first.body == second.body
    assert second.headers["x-faceblur-signature"] == expected_signature(second.body)
    webhook = webhook_state(webhook_gateway, task_id, "delivered")
    assert webhook["attempts"] == 2
    assert wait_for(webhook_gateway, task_id)["status"] == "SUCCESS"


def test_a_receiver_that_never_succeeds_fails_the_webhook_not_the_task(
    webhook_gateway: httpx.Client, receiver: Receiver
) -> None:
    receiver.statuses = [503]
    task_id = submit(webhook_gateway, "detect_faces", small_jpeg(), callback_url=receiver.url)

    assert wait_for(webhook_gateway, task_id)["status"] == "SUCCESS"
    webhook = webhook_state(webhook_gateway, task_id, "failed")
    assert len(receiver.calls) == 5, "GATEWAY_WEBHOOK_ATTEMPTS (default 5) tries"
    assert webhook["attempts"] == 5 and "503" in webhook["error"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.7/hook",
        "file:///etc/passwd",
        "not a url",
    ],
)
def test_callbacks_to_private_or_local_addresses_are_refused_by_default(
    refusing_gateway: httpx.Client, url: str
) -> None:
    response = refusing_gateway.post(
        "/detect_faces", files={"file": ("a.jpg", small_jpeg())}, data={"callback_url": url}
    )
    assert response.status_code == 400, response.text
    assert "callback" in response.json()["detail"]


@pytest.fixture(scope="module")
def refusing_gateway(work_dir: Path, redis_server: RedisServer, stack: Stack) -> Iterator[httpx.Client]:
    """Default webhook settings, with a secret so webhooks are on."""
    gateway = Gateway(work_dir, redis_server.url, [stack.face.address], **webhooks_on("webhooks-default")).start()
    with gateway.client() as client:
        yield client
    gateway.stop()


def test_a_callback_needs_webhooks_turned_on(api: httpx.Client) -> None:
    response = api.post(
        "/detect_faces", files={"file": ("a.jpg", small_jpeg())}, data={"callback_url": "https://example.com/hook"}
    )
    assert response.status_code == 400
    assert "GATEWAY_WEBHOOK_SECRET" in response.json()["detail"]
