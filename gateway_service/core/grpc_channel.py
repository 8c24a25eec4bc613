"""How the gateway's gRPC channels to the face services behave: used by the dispatcher and the readiness checks."""

from __future__ import annotations

from collections.abc import Sequence

_MAX_MESSAGE_BYTES = 8 * 1024 * 1024

CHANNEL_OPTIONS: Sequence[tuple[str, int]] = (
    # Reconnect quickly after the face service restarts (gRPC's default backoff grows to two minutes).
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2000),
    # Notice a vanished host on an idle stream; no more often than gRPC servers accept by default.
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
)
