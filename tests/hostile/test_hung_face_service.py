"""A face service that accepts connections but never answers (hung, not crashed): every accepted task still
ends, FAILURE with a reason naming the setting whose deadline ran out."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable

from tests.gateway.helpers import small_jpeg, submit, wait_for
from tests.stack import Gateway, RedisServer


def test_tasks_sent_to_a_hung_face_service_fail_with_the_reason_by_the_deadline(
    redis_server: RedisServer, make_gateway: Callable[..., Gateway]
) -> None:
    with socket.socket() as black_hole:  # the kernel completes TCP handshakes; nothing ever answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen(16)
        address = f"127.0.0.1:{black_hole.getsockname()[1]}"
        gateway = make_gateway(
            redis_server.url,
            [address],
            GATEWAY_KEY_PREFIX=f"hung-{uuid.uuid4().hex[:6]}",
            GATEWAY_FACE_SERVICE_WAIT_SECONDS="3",
            GATEWAY_FACE_JOB_TIMEOUT_SECONDS="2",
            GATEWAY_MAX_ATTEMPTS="2",
        )
        started = time.monotonic()
        with gateway.client() as api:
            task_ids = [submit(api, "detect_faces", small_jpeg(320)) for _ in range(3)]
            results = [wait_for(api, task_id, timeout=30) for task_id in task_ids]
    assert [result["status"] for result in results] == ["FAILURE"] * 3
    for result in results:
        assert "GATEWAY_" in result["error"] and address in result["error"], result["error"]
    assert time.monotonic() - started < 30
