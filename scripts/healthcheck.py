"""Readiness checks of the FaceBlur services, for the process harness (processes.py) and the containers'
HEALTHCHECKs. Standard library, grpcio and grpcio-health-checking only: the service images have nothing more.

Usage: python healthcheck.py grpc HOST:PORT    (standard gRPC health check of the face service)
       python healthcheck.py http URL          (the gateway's /healthz)
Exits 0 when the service is healthy, 1 when not.
"""

from __future__ import annotations

import sys
import urllib.request


def grpc_is_serving(address: str, timeout: float = 1.0, service: str = "") -> bool:
    """The standard gRPC health check of ``service`` ("": the server as a whole) says SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            request = health_pb2.HealthCheckRequest(service=service)
            reply = health_pb2_grpc.HealthStub(channel).Check(request, timeout=timeout)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def http_is_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:  # refused, timed out, or an HTTP error status
        return False


CHECKS = {"grpc": grpc_is_serving, "http": http_is_ok}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    kind, target = argv
    return 0 if CHECKS[kind](target, timeout=3.0) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
