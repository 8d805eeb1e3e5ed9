"""The gateway's ASGI application: the transcoded contracts, plus what a transcoder cannot do (health,
the dead-letter fan-out), one error format, a trace id on every answer, and the OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from google.protobuf.descriptor import ServiceDescriptor
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from libs.errors import DomainError
from libs.openapi import Comments, error_responses, openapi_document
from services.gateway.problems import (
    TRACE_HEADER,
    current_trace_id,
    handle_domain_error,
    handle_http_exception,
    handle_unexpected_error,
    handle_validation_error,
)
from services.gateway.routes import health, operations
from services.gateway.transcoded import CONTRACTS, METHODS, TranscodedApi
from services.gateway.upstreams import open_upstreams

TITLE = "Shop back office"
VERSION = "1.0.0"
DESCRIPTION = (
    "HTTP/JSON API for shop platforms, ERPs and warehouse scanners, transcoded from the services' gRPC "
    "contracts. Every route but /healthz and /livez needs `Authorization: Bearer <token>`; each operation "
    "names the roles that may call it. Mutating operations take an `Idempotency-Key` header (or a "
    "`request_id` field): a retry with the same key gets the first answer."
)


class TraceIdHeader:
    """Every response names its trace (``X-Trace-Id``), so an integrator can hand SREs the id of a failed
    call. Plain ASGI rather than ``@app.middleware``: Starlette's BaseHTTPMiddleware runs every request
    through an extra task and memory streams, a measurable share of the gateway's time per call."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_naming_the_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace_id = current_trace_id()
                if trace_id is not None:
                    MutableHeaders(scope=message)[TRACE_HEADER] = trace_id
            await send(message)

        await self.app(scope, receive, send_naming_the_trace)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.upstreams = open_upstreams()
    try:
        yield
    finally:
        await app.state.upstreams.close()


def create_app(contracts: Sequence[ServiceDescriptor] = CONTRACTS) -> FastAPI:
    """The gateway over ``contracts`` (each served by the service its package names)."""
    app = FastAPI(title=TITLE, version=VERSION, description=DESCRIPTION, lifespan=lifespan)

    app.add_middleware(TraceIdHeader)
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected_error)
    app.include_router(health.router)
    app.include_router(operations.router)
    # Last: the hand-written routes above match first.
    app.add_route(
        "/{path:path}", TranscodedApi(contracts).handle, methods=list(METHODS), include_in_schema=False
    )
    app.openapi = lambda: _openapi(app, contracts)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI, contracts: Sequence[ServiceDescriptor]) -> dict[str, Any]:
    """The contracts' operations, generated from their descriptors and comments, with the hand-written
    routes' operations beside them."""
    if app.openapi_schema is None:
        document = openapi_document(
            contracts, comments=Comments.beside_generated_code(), title=TITLE, version=VERSION
        )
        document["info"]["description"] = DESCRIPTION
        hand = get_openapi(title=TITLE, version=VERSION, routes=app.routes)
        for path, item in hand.get("paths", {}).items():
            for operation in item.values():
                if path in ("/healthz", "/livez"):
                    operation["security"] = []  # no token needed
                    continue
                operation["responses"].pop("422", None)  # validation errors answer 400 in the error format
                operation["responses"].update(error_responses())
        document["paths"].update(hand.get("paths", {}))
        for name, schema in hand.get("components", {}).get("schemas", {}).items():
            document["components"]["schemas"].setdefault(name, schema)
        app.openapi_schema = document
    return app.openapi_schema
