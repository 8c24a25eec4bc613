"""Where the face services are: the entries of FACE_SERVICE_ADDRESSES, and the replicas they stand for now.

An entry is either a plain ``host:port``, one face service (gRPC connects to it and resolves the host itself, as
always), or a name in gRPC's naming syntax, ``dns:///name:port`` (or ``dns:name:port``): every address the name
resolves to (A and AAAA records) is a replica listening on that port. A Docker or podman service name
(``docker-compose up --scale face-service=3``) and a Kubernetes headless Service resolve that way.

``FaceReplicas`` resolves the names with the standard library (``loop.getaddrinfo``, run in a thread so the event
loop never blocks) at start and every GATEWAY_FACE_RESOLVE_SECONDS, and hands each change (replicas added,
replicas removed: ``replica_change``) to its listeners, the dispatcher's ``FacePool``; the readiness checks read
``addresses`` when asked. A failed resolution keeps the name's last known replicas and logs a warning; a name that
has never resolved has none (and readiness says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gateway_service.core.shutdown import cancel_all

if TYPE_CHECKING:
    from gateway_service.core.config import Settings

log = logging.getLogger(__name__)

SETTING = "FACE_SERVICE_ADDRESSES"
DNS_SCHEME = "dns:"
FIRST_RESOLUTION_WAIT_SECONDS = 5.0
"""How long start-up waits for the names' first resolution before going on (it goes on resolving)."""

_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_.])?$")

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""(host, port) -> the host's IP addresses; raises (e.g. socket.gaierror) when the name does not resolve."""


class AddressError(ValueError):
    """A malformed FACE_SERVICE_ADDRESSES entry; the message says what is wrong and what is expected."""


@dataclass(frozen=True)
class FaceName:
    """A ``dns:`` entry: every address of ``host`` is a face service on ``port``."""

    text: str  # as configured, for messages
    host: str
    port: int


FaceEntry = str | FaceName
"""One entry of FACE_SERVICE_ADDRESSES: a plain address (a str, used as it is) or a name to resolve."""


def parse_face_address(text: str) -> FaceEntry:
    """A plain entry unchanged; a ``dns:`` entry as a ``FaceName``, or ``AddressError`` saying what is wrong."""
    if text[: len(DNS_SCHEME)].lower() != DNS_SCHEME:
        return text
    expected = "expected dns:///name:port (every address of the name is a face service on that port)"
    target = text[len(DNS_SCHEME) :]
    if target.startswith("//"):
        authority, slash, target = target[2:].partition("/")
        if not slash:
            raise AddressError(f"{SETTING}: {text!r} is malformed: {expected}")
        if authority:
            raise AddressError(
                f"{SETTING}: {text!r} names a DNS server ({authority!r}), which is not supported: the system's "
                f"resolver is used; {expected}"
            )
    host, port = _split_host_port(text, target, expected)
    return FaceName(text, host, port)


def _split_host_port(text: str, target: str, expected: str) -> tuple[str, int]:
    if target.startswith("["):  # an IPv6 literal, [::1]:50051
        host, bracket, rest = target[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise AddressError(f"{SETTING}: {text!r} is malformed: {expected}")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressError(f"{SETTING}: {text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, colon, port_text = target.rpartition(":")
        if not colon:
            raise AddressError(f"{SETTING}: {text!r} has no port: {expected}")
        if not host:
            raise AddressError(f"{SETTING}: {text!r} has no name: {expected}")
        if not _HOST_NAME.match(host) or ".." in host:
            raise AddressError(f"{SETTING}: {text!r}: {host!r} is not a host name: {expected}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise AddressError(f"{SETTING}: {text!r}: the port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def parse_face_addresses(entries: Iterable[str]) -> list[FaceEntry]:
    return [parse_face_address(entry) for entry in entries]


def join_host_port(ip: str, port: int) -> str:
    """An address gRPC and people read: ``10.0.0.5:50051``, ``[fd00::5]:50051``."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _address_order(ip: str) -> tuple[int, int, str]:
    try:
        parsed = ipaddress.ip_address(ip)
    except ValueError:
        return (9, 0, ip)
    return (parsed.version, int(parsed), ip)


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address of ``host`` (A and AAAA records, or /etc/hosts), through the system's resolver in a thread."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class ReplicaChange:
    """Replicas that appeared and those that vanished between two readings, each in the order read."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


def replica_change(before: Sequence[str], after: Sequence[str]) -> ReplicaChange:
    """The rule: an address in ``after`` and not ``before`` was added, one in ``before`` and not ``after`` removed;
    one in both (in whatever order) is the same replica and keeps its stream."""
    had, has = set(before), set(after)
    return ReplicaChange(
        added=tuple(dict.fromkeys(a for a in after if a not in had)),
        removed=tuple(dict.fromkeys(a for a in before if a not in has)),
    )


Listener = Callable[[ReplicaChange], Awaitable[None]]


class FaceReplicas:
    """The face services now: the plain entries as they are, each name as the addresses it last resolved to."""

    def __init__(self, entries: Sequence[str], resolve_every: float, resolve: Resolver | None = None) -> None:
        self.entries = parse_face_addresses(entries)
        self._every = resolve_every
        self._resolve = resolve or resolve_host
        self._names = list(dict.fromkeys(e for e in self.entries if isinstance(e, FaceName)))
        self._resolved: dict[FaceName, tuple[str, ...]] = {name: () for name in self._names}
        self._problems: dict[FaceName, str] = {name: "not resolved yet" for name in self._names}
        self._listeners: list[Listener] = []
        self._watching: asyncio.Task[None] | None = None
        self._first_round: asyncio.Event | None = None
        self.addresses: tuple[str, ...] = self._combine()

    @classmethod
    def from_settings(cls, settings: Settings, resolve: Resolver | None = None) -> FaceReplicas:
        return cls(settings.face_service_addresses, settings.face_resolve_seconds, resolve)

    def subscribe(self, listener: Listener) -> None:
        """``listener`` is awaited with each change, in the resolving task (one change at a time)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def unresolved(self) -> dict[str, str]:
        """Names with no address now (never resolved, or never to anything), each with its last problem."""
        return {
            name.text: f"resolves to no address ({self._problems.get(name) or 'no records'})"
            for name in self._names
            if not self._resolved[name]
        }

    async def start(self, wait: float = FIRST_RESOLUTION_WAIT_SECONDS) -> None:
        """Start resolving the names (nothing to do without any); wait up to ``wait`` s for the first round."""
        if not self._names or self._watching is not None:
            return
        self._first_round = asyncio.Event()
        self._watching = asyncio.create_task(self._watch(), name="face-replicas")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._first_round.wait(), wait)

    async def close(self) -> None:
        if self._watching is not None:
            await cancel_all([self._watching])
            self._watching = None

    async def _watch(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a listener's bug must not stop the resolving
                log.exception("updating the face services failed")
            if self._first_round is not None:
                self._first_round.set()
            await asyncio.sleep(self._every)

    async def refresh(self) -> ReplicaChange:
        """Resolve every name once; tell the listeners what changed."""
        outcomes = await asyncio.gather(*(self._resolve_name(name) for name in self._names))
        for name, outcome in zip(self._names, outcomes, strict=True):
            if isinstance(outcome, str):
                if self._problems.get(name) != outcome:
                    kept = ", ".join(self._resolved[name]) or "none"
                    log.warning("resolving %s failed (%s); its last known replicas stay: %s", name.text, outcome, kept)
                self._problems[name] = outcome
                continue
            if self._problems.pop(name, None) is not None and self._resolved[name]:
                log.info("%s resolves again", name.text)
            self._resolved[name] = outcome
        before, self.addresses = self.addresses, self._combine()
        change = replica_change(before, self.addresses)
        if change:
            log.info(
                "face services now %s (added: %s; removed: %s)",
                ", ".join(self.addresses) or "none",
                ", ".join(change.added) or "none",
                ", ".join(change.removed) or "none",
            )
            for listener in list(self._listeners):
                await listener(change)
        return change

    async def _resolve_name(self, name: FaceName) -> tuple[str, ...] | str:
        """The name's replicas, sorted; or what went wrong, as text."""
        try:
            ips = await self._resolve(name.host, name.port)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # socket.gaierror, OSError, UnicodeError (a label too long)...
            return f"{type(error).__name__}: {error}"
        if not ips:
            return "no addresses"
        return tuple(join_host_port(ip, name.port) for ip in sorted(set(ips), key=_address_order))

    def _combine(self) -> tuple[str, ...]:
        """Every replica once, in the configured order (a name's replicas in address order)."""
        found: dict[str, None] = {}
        for entry in self.entries:
            for address in [entry] if isinstance(entry, str) else self._resolved[entry]:
                found.setdefault(address, None)
        return tuple(found)
