"""``python -m services.gateway``: serves the HTTP/JSON API (default http://127.0.0.1:8080)."""

from __future__ import annotations

import asyncio
import contextvars

import uvicorn
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.types import ASGIApp, Receive, Scope, Send

from libs import config
from libs.logs import setup_logging
from libs.telemetry import setup_telemetry, shutdown_telemetry
from services.gateway.app import create_app


class FreshContext:
    """Serves each request in a context of its own. On a kept-alive connection, uvicorn resumes reading
    from inside the previous request (flow control, for any body over 64 KiB), and asyncio then runs the
    connection's next requests in that request's context: they would reuse its trace and nest under its
    span. An empty context per request keeps every trace separate."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def serve() -> None:
            await self.app(scope, receive, send)

        await asyncio.create_task(serve(), context=contextvars.Context())


def instrument(app: FastAPI) -> ASGIApp:
    """The app as it is served: a server span per request, the root of the request's trace unless the
    caller sent a traceparent. Probes are polled constantly; tracing them would bury the flows SREs look
    for."""
    # Whole URLs, anchored: a pattern matches anywhere in a URL, and /v1/.../healthz must still be traced.
    probes = ",".join(f"^[a-z]+://[^/]+/{path}$" for path in ("healthz", "livez"))
    FastAPIInstrumentor.instrument_app(app, excluded_urls=probes, exclude_spans=["receive", "send"])
    return FreshContext(app)


def main() -> None:
    setup_logging("gateway")
    setup_telemetry("gateway")
    app = instrument(create_app())
    try:
        uvicorn.run(
            app,
            host=config.gateway_host(),
            port=config.gateway_port(),
            log_config=None,
            timeout_graceful_shutdown=int(config.grace_seconds()),
        )
    finally:
        shutdown_telemetry()


if __name__ == "__main__":
    main()
