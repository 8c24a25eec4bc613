"""FACE_SERVICE_ADDRESSES, fast and in-process (the last test with a real Redis): plain ``host:port`` entries
and ``dns:///name:port`` names, the startup error for a malformed one, the rule that turns two readings of the
replicas into added / removed, and how the replica set, the face pool and the readiness checks follow a name (a
scripted resolver stands in for DNS).

Real processes, with replicas joining and leaving while tasks run: test_face_replicas.py.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from faceblur_proto.media_store import open_media_store
from gateway_service.core.config import Settings, get_settings
from gateway_service.core.face_addresses import (
    AddressError,
    FaceName,
    FaceReplicas,
    ReplicaChange,
    parse_face_address,
    replica_change,
    resolve_host,
)
from gateway_service.dispatcher.consumer import Dispatcher
from gateway_service.dispatcher.face_client import FacePool
from gateway_service.metrics import FACE_SERVICE_CONNECTED
from gateway_service.readiness import ReadinessChecker
from gateway_service.tasks.keys import RedisKeys
from gateway_service.tasks.store import TaskStore
from tests.stack import RedisServer, free_port

NAME = "dns:///faces:50051"


@pytest.mark.parametrize("plain", ["127.0.0.1:50051", "face-service:50051", "[::1]:50051", "unix:/run/face.sock"])
def test_a_plain_entry_is_used_as_it_is(plain: str) -> None:
    assert parse_face_address(plain) == plain


@pytest.mark.parametrize(
    ("entry", "host", "port"),
    [
        ("dns:///face-service:50051", "face-service", 50051),
        ("DNS:///Face_Service.internal.:1", "Face_Service.internal.", 1),
        ("dns:face-service:50051", "face-service", 50051),  # gRPC's form without the authority's slashes
        ("dns:///10.0.0.5:50051", "10.0.0.5", 50051),
        ("dns:///[fd00::5]:50051", "fd00::5", 50051),
    ],
)
def test_a_dns_entry_is_a_name_and_a_port(entry: str, host: str, port: int) -> None:
    assert parse_face_address(entry) == FaceName(entry, host, port)


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("dns:///face-service", "has no port"),
        ("dns:///:50051", "has no name"),
        ("dns:///face-service:", "the port '' is not a number"),
        ("dns:///face-service:http", "the port 'http' is not a number"),
        ("dns:///face-service:0", "from 1 to 65535"),
        ("dns:///face-service:65536", "from 1 to 65535"),
        ("dns://8.8.8.8/face-service:50051", "names a DNS server ('8.8.8.8'), which is not supported"),
        ("dns://face-service:50051", "is malformed"),
        ("dns:///face service:50051", "'face service' is not a host name"),
        ("dns:///face..service:50051", "is not a host name"),
        ("dns:///[nope]:50051", "'nope' is not an IPv6 address"),
        ("dns:///[::1]50051", "is malformed"),
    ],
)
def test_a_malformed_dns_entry_is_refused_saying_why(entry: str, says: str) -> None:
    with pytest.raises(AddressError) as refused:
        parse_face_address(entry)
    assert str(refused.value).startswith(f"FACE_SERVICE_ADDRESSES: {entry!r}")
    assert says in str(refused.value)


def test_the_settings_take_a_list_mixing_both_forms() -> None:
    settings = Settings(face_service_addresses=f"10.0.0.9:50051, {NAME}")
    assert settings.face_service_addresses == ["10.0.0.9:50051", NAME]
    assert settings.face_resolve_seconds == 10
    with pytest.raises(ValidationError, match="has no port: expected dns:///name:port"):
        Settings(face_service_addresses="10.0.0.9:50051,dns:///faces")


def test_a_malformed_dns_entry_stops_the_gateway_at_start_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACE_SERVICE_ADDRESSES", "dns:///face-service")
    monkeypatch.setenv("GATEWAY_FACE_RESOLVE_SECONDS", "0")
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as stopped:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(stopped.value)
    assert message.startswith("gateway: bad setting: ")
    assert "FACE_SERVICE_ADDRESSES: 'dns:///face-service' has no port: expected dns:///name:port" in message
    assert "GATEWAY_FACE_RESOLVE_SECONDS: Input should be greater than 0" in message


def test_the_replica_change_rule() -> None:
    assert replica_change(["a", "b"], ["b", "c"]) == ReplicaChange(added=("c",), removed=("a",))
    assert replica_change([], ["a", "b"]) == ReplicaChange(added=("a", "b"))
    assert replica_change(["a", "b"], []) == ReplicaChange(removed=("a", "b"))
    unchanged = replica_change(["a", "b"], ["b", "a"])  # the order of the answer is no change
    assert unchanged == ReplicaChange() and not unchanged


class ScriptedDns:
    """A resolver answering from ``answers`` (an exception is raised), recording what it was asked."""

    def __init__(self, answers: dict[str, Sequence[str] | Exception]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        answer = self.answers[host]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_replicas_follow_the_name_and_keep_the_last_known_when_it_fails(caplog: pytest.LogCaptureFixture) -> None:
    dns = ScriptedDns({"faces": socket.gaierror(socket.EAI_NONAME, "Name or service not known")})
    replicas = FaceReplicas(["10.0.0.9:7", NAME, "10.0.0.2:50051"], 10, dns)
    seen: list[ReplicaChange] = []

    async def listener(change: ReplicaChange) -> None:
        seen.append(change)

    replicas.subscribe(listener)

    async def scenario() -> None:
        assert replicas.addresses == ("10.0.0.9:7", "10.0.0.2:50051")  # before any resolution: the plain ones
        assert replicas.unresolved() == {NAME: "resolves to no address (not resolved yet)"}

        assert not await replicas.refresh()  # a name that resolves to nothing at start: no replica of it
        unknown = "resolves to no address (gaierror: [Errno -2] Name or service not known)"
        assert replicas.unresolved() == {NAME: unknown}

        dns.answers["faces"] = ["10.0.0.3", "10.0.0.2", "10.0.0.10", "10.0.0.3"]
        change = await replicas.refresh()
        # Each address once (10.0.0.2 is also listed plainly), a name's in address order, in the configured order.
        assert replicas.addresses == ("10.0.0.9:7", "10.0.0.2:50051", "10.0.0.3:50051", "10.0.0.10:50051")
        assert change == ReplicaChange(added=("10.0.0.3:50051", "10.0.0.10:50051"))
        assert replicas.unresolved() == {}

        dns.answers["faces"] = ["10.0.0.10", "10.0.0.11"]
        assert await replicas.refresh() == ReplicaChange(added=("10.0.0.11:50051",), removed=("10.0.0.3:50051",))
        kept = replicas.addresses

        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="gateway_service.core.face_addresses"):
            for failure in (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), []):
                dns.answers["faces"] = failure
                assert not await replicas.refresh()
                assert replicas.addresses == kept and replicas.unresolved() == {}
        warnings = [record.getMessage() for record in caplog.records]
        assert len(warnings) == 2 and f"resolving {NAME} failed" in warnings[0]
        assert "10.0.0.10:50051, 10.0.0.11:50051" in warnings[0] and "no addresses" in warnings[1]

        dns.answers["faces"] = ["fd00::2", "10.0.0.11"]
        await replicas.refresh()
        assert replicas.addresses == ("10.0.0.9:7", "10.0.0.11:50051", "[fd00::2]:50051", "10.0.0.2:50051")

    asyncio.run(scenario())
    assert set(dns.asked) == {("faces", 50051)}
    assert seen == [
        ReplicaChange(added=("10.0.0.3:50051", "10.0.0.10:50051")),
        ReplicaChange(added=("10.0.0.11:50051",), removed=("10.0.0.3:50051",)),
        ReplicaChange(added=("[fd00::2]:50051",), removed=("10.0.0.10:50051",)),
    ]


def test_the_system_resolver_finds_localhost() -> None:
    async def scenario() -> tuple[list[str], tuple[str, ...]]:
        replicas = FaceReplicas(["dns:///localhost:50051"], 10)
        await replicas.start()
        try:
            return await resolve_host("localhost", 50051), replicas.addresses
        finally:
            await replicas.close()

    found, addresses = asyncio.run(scenario())
    assert "127.0.0.1" in found
    assert "127.0.0.1:50051" in addresses


def test_plain_addresses_need_no_resolving() -> None:
    async def scenario() -> None:
        replicas = FaceReplicas(["127.0.0.1:1", "face-service:2"], 0.01, ScriptedDns({}))
        await replicas.start()  # nothing to resolve: no task, no lookups
        assert replicas.addresses == ("127.0.0.1:1", "face-service:2") and replicas.unresolved() == {}
        await replicas.close()

    asyncio.run(scenario())


def test_the_face_pool_and_the_readiness_checks_follow_the_replicas(tmp_path: Path) -> None:
    """Connections to nothing (free ports): what is checked is which addresses they are made for."""
    port = free_port()
    dns = ScriptedDns({"faces": socket.gaierror(socket.EAI_NONAME, "Name or service not known")})
    name = f"dns:///faces:{port}"

    class Redis:
        async def ping(self) -> bool:
            return True

    def connected_series() -> set[str]:
        return {s.labels["address"] for m in FACE_SERVICE_CONNECTED.collect() for s in m.samples}

    async def scenario() -> None:
        replicas = FaceReplicas([name], 0.05, dns)
        media = open_media_store(tmp_path.as_uri())
        readiness = ReadinessChecker(Redis(), replicas, media, 0.5)  # type: ignore[arg-type]
        pool = FacePool(replicas)
        await replicas.start()
        pool.start()
        try:
            report = await readiness.check()
            assert not report.ready and report.face_services == {name: replicas.unresolved()[name]}
            assert f"{name}: resolves to no address (gaierror" in report.problems()[0]
            assert pool.connections == [] and not pool.available and pool.down_since is not None
            assert pool.describe_problem().startswith(f"{name} resolves to no address")

            first, second = f"127.0.0.1:{port}", f"127.0.0.2:{port}"
            dns.answers["faces"] = ["127.0.0.1", "127.0.0.2"]
            await asyncio.sleep(0.2)
            assert [c.address for c in pool.connections] == [first, second]
            assert {first, second} <= connected_series()
            report = await readiness.check()
            assert set(report.face_services) == {first, second} and not report.ready  # nobody listens there

            dns.answers["faces"] = ["127.0.0.2"]
            await asyncio.sleep(0.2)
            assert [c.address for c in pool.connections] == [second]
            assert first not in connected_series(), "a replica that left keeps no metric series"
            assert set((await readiness.check()).face_services) == {second}

            dns.answers["faces"] = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            await asyncio.sleep(0.2)
            assert [c.address for c in pool.connections] == [second], "a failed lookup keeps the last replicas"
        finally:
            await pool.close()
            await replicas.close()
            await readiness.close()

    asyncio.run(scenario())


def test_a_dispatcher_of_its_own_resolves_the_names(redis_server: RedisServer) -> None:
    """``python -m gateway_service.dispatcher`` builds its dispatcher with no replicas given: it resolves and
    follows the names itself, and stops doing so when it stops."""
    port = free_port()

    async def scenario() -> None:
        redis = Redis.from_url(redis_server.url)
        keys = RedisKeys(f"names-{uuid.uuid4().hex[:8]}")
        settings = Settings(face_service_addresses=f"dns:///localhost:{port}", key_prefix=keys.prefix)
        dispatcher = Dispatcher(settings, TaskStore(redis, keys, 60))
        await dispatcher.start()
        try:
            assert f"127.0.0.1:{port}" in [c.address for c in dispatcher.pool.connections]
        finally:
            await dispatcher.stop()
            await redis.aclose()
        assert [t for t in asyncio.all_tasks() if t.get_name() == "face-replicas"] == []

    asyncio.run(scenario())
