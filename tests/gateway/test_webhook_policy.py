"""Which callback URLs the gateway agrees to call (checked without a network, on literal addresses)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac

import pytest

from gateway_service.webhooks.policy import CallbackRefused, check_callback_url, host_and_port, refused_address_reason
from gateway_service.webhooks.signing import signature, signature_matches


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("fd00::5", "private"),
        ("100.64.0.1", "not a public"),
        ("0.0.0.0", "private"),
    ],
)
def test_non_public_addresses_are_named_as_such(address: str, kind: str) -> None:
    assert refused_address_reason([address]) == f"{address} is a {kind} address"


def test_public_addresses_pass_and_one_bad_address_among_them_refuses_the_host() -> None:
    assert refused_address_reason(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]) is None
    assert refused_address_reason(["93.184.215.14", "10.0.0.1"]) == "10.0.0.1 is a private address"


def test_the_allow_list_takes_exact_hosts_and_subdomain_patterns() -> None:
    allowed = ["hooks.example.com", "*.example.org"]
    assert host_and_port("https://hooks.example.com/x", allowed) == ("hooks.example.com", 443)
    assert host_and_port("http://a.b.example.org:8080/x", allowed) == ("a.b.example.org", 8080)
    for url in ("https://example.com/x", "https://evil-example.org/x", "https://hooks.example.com.evil.net/"):
        with pytest.raises(CallbackRefused, match="GATEWAY_WEBHOOK_ALLOWED_HOSTS"):
            host_and_port(url, allowed)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("https:///path", "no host"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "x" * 2100, "longer than"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(CallbackRefused, match=reason):
        host_and_port(url, [])


def test_a_literal_private_address_is_refused_unless_private_callbacks_are_allowed() -> None:
    with pytest.raises(CallbackRefused, match="GATEWAY_WEBHOOK_ALLOW_PRIVATE"):
        asyncio.run(check_callback_url("http://192.168.1.20/hook", [], allow_private=False))
    asyncio.run(check_callback_url("http://192.168.1.20/hook", [], allow_private=True))


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    body = b'{"task_id":"t","status":"SUCCESS"}'
    assert signature("key", body) == "sha256=" + hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert signature_matches("key", body, signature("key", body))
    assert not signature_matches("key", body + b" ", signature("key", body))
