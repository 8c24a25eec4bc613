"""The webhook signature: HMAC-SHA256 of the exact body bytes, sent as ``X-FaceBlur-Signature: sha256=<hex>``."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-FaceBlur-Signature"
TASK_ID_HEADER = "X-FaceBlur-Task-Id"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(secret: str, body: bytes, header_value: str) -> bool:
    """What a receiver does: recompute the signature and compare in constant time."""
    return hmac.compare_digest(signature(secret, body), header_value)
