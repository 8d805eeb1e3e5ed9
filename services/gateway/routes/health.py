"""Health: the gateway's own liveness, and the readiness of the whole suite via grpc.health.v1."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import grpc
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2

from libs.config import SERVICE_PORTS
from libs.supervisor import read_state
from services.gateway.upstreams import Upstreams

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 1.0


async def _status_of(upstreams: Upstreams, service: str) -> str:
    try:
        reply = await upstreams.health(service).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=CHECK_TIMEOUT_SECONDS, wait_for_ready=False
        )
    except grpc.RpcError as err:
        code = err.code() if hasattr(err, "code") else None
        return (
            "UNREACHABLE"
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            else "UNKNOWN"
        )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


@router.get("/livez")
async def livez() -> dict[str, str]:
    """The gateway process is up (no dependency is checked)."""
    return {"status": "SERVING"}


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """Asks every service's health endpoint at once; 200 only when all are SERVING."""
    upstreams: Upstreams = request.app.state.upstreams
    names = list(SERVICE_PORTS)
    statuses = await asyncio.gather(*(_status_of(upstreams, name) for name in names))
    services = dict(zip(names, statuses, strict=True))
    ok = all(status == "SERVING" for status in statuses)
    body: dict[str, Any] = {
        "status": "SERVING" if ok else "NOT_SERVING",
        "services": {"gateway": "SERVING", **services},
    }
    processes = _supervised_processes()
    if processes is not None:
        body["processes"] = processes
    return JSONResponse(body, status_code=200 if ok else 503)


def _supervised_processes() -> dict[str, Any] | None:
    """In the embedded run: each process's state and how often the supervisor restarted it."""
    path = os.environ.get("SHOP_SUPERVISOR_STATE")
    state = read_state(Path(path)) if path else None
    if state is None or not isinstance(state.get("processes"), dict):
        return None
    return {
        name: {key: info.get(key) for key in ("state", "restarts", "last_exit", "started_at")}
        for name, info in state["processes"].items()
        if isinstance(info, dict)
    }
