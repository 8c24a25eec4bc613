"""Access control: API keys, per-key task visibility, unguessable task ids, a shared rate limit, and expiry."""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway_service.tasks.keys import RedisKeys
from tests.conftest import TEST_GATEWAY_ENV
from tests.gateway.helpers import blur_video, small_jpeg, submit, wait_for
from tests.stack import Gateway, Stack
from tests.videos import write_clip

TTL_SECONDS = 3


@pytest.fixture(scope="module")
def keyed(stack: Stack, work_dir: Path) -> Iterator[tuple[Gateway, str]]:
    """A gateway with keys 'alpha' (inline) and 'beta' (from a file), whose tasks expire after a few seconds."""
    prefix = f"keyed-{uuid.uuid4().hex[:6]}"
    keys_file = work_dir / f"{prefix}.keys"
    keys_file.write_text("# one key a line\nbeta\n")
    env = TEST_GATEWAY_ENV | {
        "GATEWAY_API_KEYS": "alpha",
        "GATEWAY_API_KEYS_FILE": str(keys_file),
        "GATEWAY_KEY_PREFIX": prefix,
        "GATEWAY_TASK_TTL_SECONDS": str(TTL_SECONDS),
    }
    gateway = Gateway(work_dir, stack.redis.url, [stack.face.address], **env).start()
    yield gateway, prefix
    gateway.stop()


def client(gateway: Gateway, **headers: str) -> httpx.Client:
    return httpx.Client(base_url=gateway.url, timeout=60, headers=headers)


def test_with_keys_on_every_endpoint_but_the_probes_needs_a_key(keyed: tuple[Gateway, str]) -> None:
    gateway, _ = keyed
    with client(gateway) as anonymous, client(gateway, Authorization="Bearer wrong") as wrong:
        for api in (anonymous, wrong):
            upload = api.post("/detect_faces", files={"file": ("a.jpg", small_jpeg(), "image/jpeg")})
            assert upload.status_code == 401
            assert api.get(f"/task_result/{uuid.uuid4()}").status_code == 401
            assert api.get("/metrics").status_code == 401
        assert "Authorization: Bearer <key>" in anonymous.get("/task_result/x").json()["detail"]
        assert "not recognised" in wrong.get("/task_result/x").json()["detail"]
        for open_path in ("/healthz", "/readyz", "/openapi.json"):
            assert anonymous.get(open_path).status_code == 200, open_path


def test_a_task_is_visible_only_to_the_key_that_created_it(keyed: tuple[Gateway, str], stack: Stack) -> None:
    gateway, prefix = keyed
    with client(gateway, Authorization="Bearer alpha") as alpha, client(gateway, **{"X-API-Key": "beta"}) as beta:
        task_id = submit(alpha, "detect_faces", small_jpeg())
        assert uuid.UUID(task_id).version == 4, "task ids are random (uuid4), not guessable"
        assert wait_for(alpha, task_id)["status"] == "SUCCESS"
        assert beta.get(f"/task_result/{task_id}").status_code == 404
        assert beta.get(f"/task_result/{task_id}").json()["detail"] == alpha.get("/task_result/nope").json()[
            "detail"
        ].replace("'nope'", repr(task_id))
        with stack.redis.client() as redis:
            stored = redis.hgetall(RedisKeys(prefix).task(task_id))
        assert stored[b"owner"].decode() == hashlib.sha256(b"alpha").hexdigest()
        assert not any(b"alpha" in value for value in stored.values()), "the key itself is never stored"


def test_a_video_and_its_faces_file_are_visible_only_to_the_key_that_made_them(
    make_stack_gateway: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway = make_stack_gateway(GATEWAY_API_KEYS="alpha,beta", GATEWAY_KEY_PREFIX=f"videos-{uuid.uuid4().hex[:6]}")
    clip = write_clip(tmp_path / "clip.mp4", seconds=1.0, size=(320, 180), audio=False)
    with client(gateway, Authorization="Bearer alpha") as alpha, client(gateway, **{"X-API-Key": "beta"}) as beta:
        finished = blur_video(alpha, clip, timeout=120)
        assert finished["status"] == "SUCCESS", finished
        for url in (finished["result"]["video_url"], finished["result"]["faces_url"]):
            assert alpha.get(url).status_code == 200
            for request in (beta.get(url), beta.get(url, headers={"Range": "bytes=0-9"}), beta.head(url)):
                assert request.status_code == 404, (url, request.request.method, request.status_code)
            assert beta.get(url).json()["detail"] == beta.get(f"/task_result/{finished['task_id']}").json()["detail"]


@pytest.mark.parametrize("key_header", [None, b"Authorization: Bearer wrong"])
def test_a_video_upload_without_a_valid_key_is_refused_before_its_body_is_read(
    keyed: tuple[Gateway, str], key_header: bytes | None
) -> None:
    """The 401 comes while the client has sent only the headers and the first KiB of a 512 MiB body (under the
    upload limit, so nothing but the key refuses it): a gateway that read the body first would wait for the rest,
    as it does with a valid key, and never answer."""
    gateway, _ = keyed
    declared = 512 * 2**20
    head = [
        b"POST /blur_video HTTP/1.1",
        f"Host: 127.0.0.1:{gateway.port}".encode(),
        b"Content-Type: multipart/form-data; boundary=cut",
        f"Content-Length: {declared}".encode(),
        *([key_header] if key_header else []),
    ]
    first_kib = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n\r\n'.ljust(1024, b"\0")
    started = time.monotonic()
    with socket.create_connection((urlsplit(gateway.url).hostname, gateway.port), timeout=10) as connection:
        connection.sendall(b"\r\n".join(head) + b"\r\n\r\n" + first_kib)
        answer = http.client.HTTPResponse(connection)
        answer.begin()
        body = json.loads(answer.read())
    assert answer.status == 401, body
    assert time.monotonic() - started < 5
    assert "API key" in body["detail"]
    assert answer.getheader("WWW-Authenticate") == "Bearer"


def test_the_image_is_deleted_when_the_job_ends_and_the_result_expires(
    keyed: tuple[Gateway, str], stack: Stack
) -> None:
    gateway, prefix = keyed
    keys = RedisKeys(prefix)
    with client(gateway, Authorization="Bearer alpha") as alpha:
        task_id = submit(alpha, "blur_faces", small_jpeg())
        assert wait_for(alpha, task_id)["status"] == "SUCCESS"
        with stack.redis.client() as redis:
            assert not redis.exists(keys.image(task_id)), "the uploaded image is gone once the job ends"
            assert 0 < redis.ttl(keys.task(task_id)) <= TTL_SECONDS
        time.sleep(TTL_SECONDS + 0.5)
        assert alpha.get(f"/task_result/{task_id}").status_code == 404
        with stack.redis.client() as redis:
            assert not redis.exists(keys.task(task_id))


def test_uploads_over_the_rate_limit_are_429_across_gateways(stack: Stack, work_dir: Path) -> None:
    env = TEST_GATEWAY_ENV | {
        "GATEWAY_RATE_LIMIT_PER_MINUTE": "2",
        "GATEWAY_KEY_PREFIX": f"rate-{uuid.uuid4().hex[:6]}",
    }
    gateways = [Gateway(work_dir, stack.redis.url, [stack.face.address], **env).start() for _ in range(2)]
    try:
        # Five uploads (without a file: cheap 400s, counted all the same) spread over both gateways: even if a
        # minute boundary falls between them, one minute sees more than two.
        answers = [httpx.post(f"{gateways[n % 2].url}/detect_faces", timeout=10) for n in range(5)]
        codes = [answer.status_code for answer in answers]
        assert 429 in codes and codes[0] == 400, codes
        refused = next(answer for answer in answers if answer.status_code == 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "GATEWAY_RATE_LIMIT_PER_MINUTE" in refused.json()["detail"]
        assert httpx.get(f"{gateways[0].url}/task_result/{uuid.uuid4()}").status_code == 404, "reads are not limited"
    finally:
        for gateway in gateways:
            gateway.stop()
