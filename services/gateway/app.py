"""The gateway's ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace

from libs.errors import DomainError
from services.gateway.problems import handle_domain_error, handle_validation_error
from services.gateway.routes import (
    health,
    inventory,
    inventory_counts,
    inventory_holds,
    inventory_places,
    inventory_planning,
    inventory_receiving,
    inventory_reservations,
    inventory_transfers,
    operations,
    orders,
)
from services.gateway.upstreams import open_upstreams


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.upstreams = open_upstreams()
    try:
        yield
    finally:
        await app.state.upstreams.close()


def create_app() -> FastAPI:
    app = FastAPI(
        title="Shop back office",
        version="1.0.0",
        description="HTTP/JSON API for shop platforms, ERPs and warehouse scanners. "
        "Every route but /healthz and /livez needs `Authorization: Bearer <token>`.",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def trace_id_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Every response names its trace, so an integrator can hand SREs the id of a failed call."""
        response = await call_next(request)
        ctx = trace.get_current_span().get_span_context()
        if ctx.is_valid:
            response.headers["X-Trace-Id"] = format(ctx.trace_id, "032x")
        return response

    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.include_router(health.router)
    app.include_router(inventory.router)
    app.include_router(inventory_places.router)
    app.include_router(inventory_reservations.router)
    app.include_router(inventory_holds.router)
    app.include_router(inventory_receiving.router)
    app.include_router(inventory_transfers.router)
    app.include_router(inventory_counts.router)
    app.include_router(inventory_planning.router)
    app.include_router(orders.router)
    app.include_router(operations.router)
    return app
