"""Images given as a ``url`` instead of an upload: fetched with the outbound rules webhooks follow (public
addresses only unless allowed, no credentials, each redirect checked again), a size limit and a time limit."""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin, urlsplit

import httpx

from gateway_service.core.config import Settings
from gateway_service.outbound import OutboundPolicy, UrlRefused, check_url
from gateway_service.uploads import describe_size

MAX_REDIRECTS = 3


class FetchFailed(Exception):
    """The image could not be fetched; the message names the URL's host and the reason."""


def fetch_policy(settings: Settings) -> OutboundPolicy:
    return OutboundPolicy("url", "image host", (), "", settings.fetch_allow_private, "GATEWAY_FETCH_ALLOW_PRIVATE")


async def fetch_image(url: str, settings: Settings) -> bytes:
    """The bytes at ``url`` (at most GATEWAY_MAX_UPLOAD_BYTES), or FetchFailed saying why."""
    try:
        return await asyncio.wait_for(_fetch(url, settings), settings.fetch_timeout_seconds)
    except asyncio.TimeoutError:
        raise FetchFailed(
            f"{_host(url)}: no complete answer within {settings.fetch_timeout_seconds:g} s "
            "(GATEWAY_FETCH_TIMEOUT_SECONDS)"
        ) from None


async def _fetch(url: str, settings: Settings) -> bytes:
    policy = fetch_policy(settings)
    async with httpx.AsyncClient(follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                await check_url(url, policy)
                async with client.stream("GET", url) as response:
                    if response.is_redirect:
                        url = urljoin(url, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        raise FetchFailed(f"{_host(url)}: HTTP {response.status_code} {response.reason_phrase}")
                    return await _read_limited(response, url, settings.max_upload_bytes)
            except UrlRefused as refused:
                raise FetchFailed(f"{_host(url)}: {refused}") from None
            except httpx.HTTPError as error:
                raise FetchFailed(f"{_host(url)}: {type(error).__name__}: {error or 'connection failed'}") from None
    raise FetchFailed(f"{_host(url)}: more than {MAX_REDIRECTS} redirects")


async def _read_limited(response: httpx.Response, url: str, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchFailed(_too_large(url, int(declared), limit))
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise FetchFailed(_too_large(url, None, limit))
        parts.append(chunk)
    return b"".join(parts)


def _too_large(url: str, size: int | None, limit: int) -> str:
    what = f"is {describe_size(size)}" if size is not None else "is larger than the limit"
    return f"{_host(url)}: the image {what}; the limit is {describe_size(limit)} (GATEWAY_MAX_UPLOAD_BYTES={limit})"


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "the URL"
    except ValueError:
        return "the URL"
