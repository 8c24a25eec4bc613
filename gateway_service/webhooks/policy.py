"""Which callback URLs the gateway may call: the outbound rules (gateway_service.outbound) with the webhook
settings. Checked when the task is submitted and again before each delivery."""

from __future__ import annotations

from collections.abc import Sequence

from gateway_service.outbound import OutboundPolicy, UrlRefused, check_url, refused_address_reason
from gateway_service.outbound import host_and_port as _host_and_port

CallbackRefused = UrlRefused
__all__ = ["CallbackRefused", "check_callback_url", "host_and_port", "refused_address_reason"]


def webhook_policy(allowed_hosts: Sequence[str], allow_private: bool) -> OutboundPolicy:
    return OutboundPolicy(
        "callback_url",
        "callback host",
        allowed_hosts,
        "GATEWAY_WEBHOOK_ALLOWED_HOSTS",
        allow_private,
        "GATEWAY_WEBHOOK_ALLOW_PRIVATE",
    )


def host_and_port(url: str, allowed_hosts: Sequence[str]) -> tuple[str, int]:
    return _host_and_port(url, webhook_policy(allowed_hosts, allow_private=False))


async def check_callback_url(url: str, allowed_hosts: Sequence[str], allow_private: bool) -> None:
    await check_url(url, webhook_policy(allowed_hosts, allow_private))
