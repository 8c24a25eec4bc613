"""The checks behind ``GET /readyz``: Redis answers PING and the face services answer gRPC health checks; the
media store is checked and reported too, without making the gateway unready (images need no store, and every
gateway shares the one store: taking them all out of service for it would stop the images as well).

The face services are those of ``FaceReplicas`` at the time of the check: a ``dns:///name:port`` entry shows as
each address it resolves to, or, while it resolves to none, under its own name with the reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from faceblur_proto.media_store import MediaStore, MediaStoreError
from gateway_service.core.face_addresses import FaceReplicas
from gateway_service.core.grpc_channel import CHANNEL_OPTIONS

FACE_SERVICE_NAME = "faceblur.v1.FaceDetection"


@dataclass
class ReadinessReport:
    redis: str = "ok"
    face_services: dict[str, str] = field(default_factory=dict)
    media_store: str = "ok"  # or why videos cannot be stored now

    @property
    def redis_ok(self) -> bool:
        return self.redis == "ok"

    @property
    def face_service_ok(self) -> bool:
        """At least one face service serves; jobs go to whichever do."""
        return any(state == "SERVING" for state in self.face_services.values())

    @property
    def ready(self) -> bool:
        return self.redis_ok and self.face_service_ok

    def problems(self) -> list[str]:
        found = []
        if not self.redis_ok:
            found.append(f"redis is down: {self.redis}")
        if not self.face_service_ok:
            states = "; ".join(f"{address}: {state}" for address, state in self.face_services.items())
            found.append(f"no face service is serving ({states})")
        return found


class ReadinessChecker:
    def __init__(self, redis: Redis, replicas: FaceReplicas, media: MediaStore, timeout_seconds: float) -> None:
        self._redis = redis
        self._replicas = replicas
        self._media = media
        self._timeout = timeout_seconds
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def check(self) -> ReadinessReport:
        addresses = self._replicas.addresses
        await self._follow(addresses)
        redis_state, media_state, *face_states = await asyncio.gather(
            self._check_redis(), self._check_media(), *(self._check_face(address) for address in addresses)
        )
        face_services = dict(zip(addresses, face_states, strict=True)) | self._replicas.unresolved()
        return ReadinessReport(redis=redis_state, face_services=face_services, media_store=media_state)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()

    async def _follow(self, addresses: tuple[str, ...]) -> None:
        """A channel for each address now; those of replicas that left are closed."""
        for address in addresses:
            if address not in self._channels:
                self._channels[address] = grpc.aio.insecure_channel(address, options=list(CHANNEL_OPTIONS))
        for address in [a for a in self._channels if a not in addresses]:
            await self._channels.pop(address).close()

    async def _check_redis(self) -> str:
        try:
            await asyncio.wait_for(self._redis.ping(), self._timeout)
            return "ok"
        except asyncio.TimeoutError:
            return f"no answer to PING within {self._timeout:g} s"
        except Exception as error:  # any failure means not ready; say which
            return f"{type(error).__name__}: {error}"

    async def _check_media(self) -> str:
        try:
            await asyncio.wait_for(asyncio.to_thread(self._media.check), self._timeout)
            return "ok"
        except asyncio.TimeoutError:
            return f"no answer within {self._timeout:g} s"
        except MediaStoreError as error:
            return str(error)

    async def _check_face(self, address: str) -> str:
        channel = self._channels.get(address)
        if channel is None:  # the replica left while this check ran (another check closed its channel)
            return "no longer among the face services"
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=FACE_SERVICE_NAME), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            return f"{error.code().name}: {error.details()}"
        except grpc.aio.UsageError:  # its channel was closed meanwhile: the replica left
            return "no longer among the face services"
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
