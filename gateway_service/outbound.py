"""Which URLs the gateway may connect to (webhook calls, image fetches): http(s), an allowed host, no credentials,
and (unless allowed) public addresses only, so the gateway cannot be used to probe its own network.

Checked before every connection, including each redirect, since a host name can change its addresses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
_RESOLVE_TIMEOUT_SECONDS = 5.0


class UrlRefused(ValueError):
    """The URL is not one the gateway may connect to; the message says why and which setting would allow it."""


@dataclass(frozen=True)
class OutboundPolicy:
    field: str  # the form field the URL came in, for messages: "callback_url", "url"
    host_noun: str  # "callback host", "image host"
    allowed_hosts: Sequence[str]
    allowed_hosts_setting: str
    allow_private: bool
    allow_private_setting: str


def host_and_port(url: str, policy: OutboundPolicy) -> tuple[str, int]:
    """The URL's host and port, if its shape and host are acceptable (pure; no name resolution)."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"{policy.field} is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"{policy.field} is not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"{policy.field} must be http:// or https://, not {parts.scheme or 'schemeless'!r}")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRefused(f"{policy.field} has no host")
    if parts.username or parts.password:
        raise UrlRefused(f"{policy.field} must not carry a user name or password")
    if policy.allowed_hosts and not any(_host_matches(host, pattern) for pattern in policy.allowed_hosts):
        raise UrlRefused(f"{policy.host_noun} {host!r} is not in {policy.allowed_hosts_setting}")
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


async def check_url(url: str, policy: OutboundPolicy) -> None:
    """Raise UrlRefused unless the gateway may connect to ``url``; resolves the host to check its addresses."""
    host, port = host_and_port(url, policy)
    if policy.allow_private:
        return
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), _RESOLVE_TIMEOUT_SECONDS
        )
    except (OSError, asyncio.TimeoutError) as error:
        raise UrlRefused(f"{policy.host_noun} {host!r} does not resolve: {error or 'timed out'}") from None
    reason = refused_address_reason(str(info[4][0]) for info in infos)
    if reason is not None:
        raise UrlRefused(
            f"{policy.host_noun} {host!r} is not public ({reason}); set {policy.allow_private_setting}=true to allow it"
        )


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern
