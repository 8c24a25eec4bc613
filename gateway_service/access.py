"""Who may call the gateway and how often: API keys (off unless configured) and a shared per-caller rate limit.

Keys are compared by their SHA-256 hash, and only the hash is ever stored (as a task's ``owner``). The rate
limit is a fixed one-minute window counted in Redis, so every gateway on the same Redis enforces one budget.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_service.core.config import Settings

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def load_api_keys(inline: Collection[str], file: Path | None) -> frozenset[str]:
    """The hashes of the configured keys: the comma list plus one key per line of the file (# comments)."""
    keys = [key.strip() for key in inline if key.strip()]
    if file is not None:
        for line in file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                keys.append(line)
    return frozenset(key_hash(key) for key in keys)


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key a request carries in ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    if x_api_key:
        return x_api_key.strip()
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0


@dataclass(frozen=True)
class RateLimiter:
    """At most ``per_minute`` requests per caller in each clock minute, counted in Redis (INCR + EXPIRE)."""

    WINDOW_SECONDS: ClassVar[int] = 60

    redis: Redis
    prefix: str
    per_minute: int

    async def hit(self, caller: str, now: float | None = None) -> RateDecision:
        now = time.time() if now is None else now
        window = int(now // self.WINDOW_SECONDS)
        key = f"{self.prefix}:rate:{caller}:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.WINDOW_SECONDS * 2)
            count, _ = await pipe.execute()
        if count <= self.per_minute:
            return RateDecision(True)
        retry_after = max(1, int((window + 1) * self.WINDOW_SECONDS - now + 0.999))
        return RateDecision(False, retry_after)


class AccessMiddleware:
    """Answers 401 without a valid key (when keys are configured) and 429 past the POST rate limit.

    It runs before the body is read, so a refused upload costs no more than its headers. The caller's
    owner hash is left in ``scope["state"]["owner"]`` for the routes.
    """

    def __init__(self, app: ASGIApp, *, key_hashes: frozenset[str], limiter: RateLimiter | None) -> None:
        self.app = app
        self.key_hashes = key_hashes
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        owner = ""
        if self.key_hashes:
            key = presented_key(headers.get("authorization"), headers.get("x-api-key"))
            if key is None:
                await _refuse(scope, receive, send, 401, MISSING_KEY, {"WWW-Authenticate": "Bearer"})
                return
            owner = key_hash(key)
            if owner not in self.key_hashes:
                await _refuse(scope, receive, send, 401, UNKNOWN_KEY, {"WWW-Authenticate": "Bearer"})
                return
        if self.limiter is not None and scope["method"] == "POST":
            client = scope.get("client")
            who = owner or f"ip:{client[0] if client else 'unknown'}"
            try:
                decision = await self.limiter.hit(who)
            except RedisError as error:
                detail = f"the task store (Redis) is unavailable: {error}"
                await _refuse(scope, receive, send, 503, detail, {})
                return
            if not decision.allowed:
                detail = (
                    f"rate limit of {self.limiter.per_minute} uploads a minute exceeded "
                    f"(GATEWAY_RATE_LIMIT_PER_MINUTE); retry in {decision.retry_after_seconds} s"
                )
                headers_out = {"Retry-After": str(decision.retry_after_seconds)}
                await _refuse(scope, receive, send, 429, detail, headers_out)
                return
        scope.setdefault("state", {})["owner"] = owner
        await self.app(scope, receive, send)


MISSING_KEY = (
    "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
    "(keys are set by GATEWAY_API_KEYS or GATEWAY_API_KEYS_FILE)"
)
UNKNOWN_KEY = "the API key is not recognised"


async def _refuse(scope: Scope, receive: Receive, send: Send, code: int, detail: str, headers: dict[str, str]) -> None:
    # Connection: close, so an upload body we never read does not have to be drained first.
    response = JSONResponse({"detail": detail}, status_code=code, headers=headers | {"Connection": "close"})
    await response(scope, receive, send)


def access_control(settings: Settings) -> dict[str, object]:
    """The AccessMiddleware arguments the settings ask for (the limiter gets its own lazily connecting client)."""
    limiter = None
    if settings.rate_limit_per_minute > 0:
        redis = Redis.from_url(settings.redis_url, health_check_interval=30)
        limiter = RateLimiter(redis, settings.key_prefix, settings.rate_limit_per_minute)
    return {"key_hashes": load_api_keys(settings.api_keys, settings.api_keys_file), "limiter": limiter}
