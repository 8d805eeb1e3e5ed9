"""Container health check for docker-compose; Kubernetes uses its native ``grpc`` and ``httpGet`` probes.

    python /opt/shop/healthcheck.py inventory   # grpc.health.v1 Check on the service's own port
    python /opt/shop/healthcheck.py gateway     # GET /healthz: every service SERVING

Ports come from the same environment the process reads (libs.config). Exits 0 when healthy, 1 otherwise.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request

from libs import config

TIMEOUT_SECONDS = 3.0


def grpc_serving(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS
            )
        except grpc.RpcError as err:
            print(f"unhealthy: {err.code()}", file=sys.stderr)
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as reply:
            return 200 <= int(reply.status) < 300
    except (urllib.error.URLError, OSError) as err:
        print(f"unhealthy: {err}", file=sys.stderr)
        return False


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in [*config.SERVICE_PORTS, "gateway"]:
        print(f"usage: healthcheck.py {{{'|'.join([*config.SERVICE_PORTS, 'gateway'])}}}", file=sys.stderr)
        return 2
    name = argv[0]
    if name == "gateway":
        healthy = http_ok(f"http://127.0.0.1:{config.gateway_port()}/healthz")
    else:
        healthy = grpc_serving(config.service_config(name).port)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
