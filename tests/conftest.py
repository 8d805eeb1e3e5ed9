"""Shared fixtures: a real PostgreSQL the harness starts itself, migrated service databases, tokens,
and an in-memory span exporter installed once as the process's tracer provider."""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from libs import identity
from libs.db import Database, migrate
from libs.embedded_pg import EmbeddedPostgres
from libs.telemetry import setup_telemetry

REPO = Path(__file__).resolve().parent.parent
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def span_exporter() -> InMemorySpanExporter:
    """Spans finished in this test process (tests call ``force_flush`` before reading)."""
    exporter = InMemorySpanExporter()
    setup_telemetry("tests", exporter=exporter)
    return exporter


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """A real PostgreSQL server for the whole run, deleted afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="shop-test-pg-"))
    os.chmod(folder, 0o755)  # the server runs as an unprivileged user when the tests run as root
    server = EmbeddedPostgres(folder / "data")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def fresh_database(postgres: EmbeddedPostgres) -> Callable[[str], str]:
    """Creates a new, migrated database for a service and returns its URL."""

    templates: dict[str, str] = {}

    def make(service: str) -> str:
        # Migrate once per run into a template, then copy it: far faster than migrating every database.
        if service not in templates:
            template = f"template_{service}"
            postgres.drop_database(template)
            migrate(postgres.create_database(template), REPO / "services" / service / "store" / "migrations")
            templates[service] = template
        return postgres.create_database(f"test_{service}_{next(_db_counter)}", template=templates[service])

    return make


@pytest.fixture
async def inventory_db(
    fresh_database: Callable[[str], str], span_exporter: InMemorySpanExporter
) -> AsyncIterator[Database]:
    database = Database(fresh_database("inventory"))
    try:
        yield database
    finally:
        await database.dispose()


def token_for(role: str, user: str = "tester") -> str:
    return identity.mint_token(user, [role])


def auth(role: str, user: str = "tester") -> list[tuple[str, str]]:
    """gRPC metadata carrying a token for ``role``."""
    return [("authorization", f"Bearer {token_for(role, user)}")]
