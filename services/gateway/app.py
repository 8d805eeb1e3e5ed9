"""The gateway's ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from libs.errors import DomainError
from services.gateway.problems import handle_domain_error, handle_validation_error
from services.gateway.routes import health, inventory
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
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.include_router(health.router)
    app.include_router(inventory.router)
    return app
