"""Which callback URLs the gateway may call: http(s), an allowed host, and (unless allowed) public addresses only.

Checked when the task is submitted and again before each delivery, since a host name can change its addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
_RESOLVE_TIMEOUT_SECONDS = 5.0


class CallbackRefused(ValueError):
    """The callback URL is not one the gateway may call; the message says why."""


def host_and_port(url: str, allowed_hosts: Sequence[str]) -> tuple[str, int]:
    """The URL's host and port, if its shape and host are acceptable (pure; no name resolution)."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackRefused(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise CallbackRefused(f"callback_url is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise CallbackRefused(f"callback_url must be http:// or https://, not {parts.scheme or 'schemeless'!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise CallbackRefused("callback_url has no host")
    if parts.username or parts.password:
        raise CallbackRefused("callback_url must not carry a user name or password")
    if allowed_hosts and not any(_host_matches(host, pattern) for pattern in allowed_hosts):
        raise CallbackRefused(f"callback host {host!r} is not in GATEWAY_WEBHOOK_ALLOWED_HOSTS")
    return host, port or (443 if parts.scheme == "https" else 80)


def refused_address_reason(addresses: Iterable[str]) -> str | None:
    """Why one of ``addresses`` may not be called (loopback, private...), or None if all are public."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        for kind, flagged in (
            ("loopback", address.is_loopback),
            ("link-local", address.is_link_local),
            ("private", address.is_private),
            ("not a public", not address.is_global),
        ):
            if flagged:
                return f"{text} is a {kind} address"
    return None


async def check_callback_url(url: str, allowed_hosts: Sequence[str], allow_private: bool) -> None:
    """Raise CallbackRefused unless the gateway may call ``url``; resolves the host to check its addresses."""
    host, port = host_and_port(url, allowed_hosts)
    if allow_private:
        return
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), _RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, asyncio.TimeoutError) as error:
        raise CallbackRefused(f"callback host {host!r} does not resolve: {error or 'timed out'}") from None
    reason = refused_address_reason(str(info[4][0]) for info in infos)
    if reason is not None:
        raise CallbackRefused(
            f"callback host {host!r} is not public ({reason}); set GATEWAY_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
