"""Shared fixtures: a real PostgreSQL the harness starts itself, migrated service databases, tokens,
and an in-memory span exporter installed once as the process's tracer provider."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from google.protobuf.message import Message
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from libs import identity
from libs.db import Database, migrate
from libs.embedded_nats import EmbeddedNats
from libs.embedded_pg import EmbeddedPostgres
from libs.events import catalogue
from libs.subscriptions import Applier, Delivery, Subscriptions
from libs.telemetry import setup_telemetry
from tests.ports import free_port

REPO = Path(__file__).resolve().parent.parent
# Tests follow whole flows, so every flow is kept here and in the suites they start; what is kept by
# default is tested in tests/unit/test_sampling.py.
os.environ.setdefault("SHOP_TRACE_SAMPLE_RATIO", "1")
_db_counter = itertools.count()


def _scratch_in_memory() -> None:
    """Puts the run's scratch folders (the test PostgreSQL, the suites' folders) in memory when the machine
    has a memory-backed folder with room and TMPDIR does not say otherwise: each test copies a database, and on
    a virtual disk a copy takes ten times as long as in memory."""
    shm = Path("/dev/shm")
    if "TMPDIR" in os.environ or not shm.is_dir() or not os.access(shm, os.W_OK):
        return
    if shutil.disk_usage(shm).free > 8 * 2**30:
        tempfile.tempdir = str(shm)


_scratch_in_memory()


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
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def nats_server() -> Iterator[EmbeddedNats]:
    """A real NATS server with JetStream of the test's own (streams and consumers start empty)."""
    folder = Path(tempfile.mkdtemp(prefix="shop-test-nats-"))
    server = EmbeddedNats(folder / "jetstream", free_port(), log_path=folder / "nats.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def service_template(postgres: EmbeddedPostgres) -> Callable[[str], str]:
    """The name of a service's migrated template database, migrated on first use."""
    templates: dict[str, str] = {}

    def template_of(service: str) -> str:
        # Migrate once per run into a template, then copy it: far faster than migrating every database.
        if service not in templates:
            template = f"template_{service}"
            postgres.drop_database(template)
            migrate(postgres.create_database(template), REPO / "services" / service / "store" / "migrations")
            templates[service] = template
        return templates[service]

    return template_of


@pytest.fixture
def fresh_database(
    postgres: EmbeddedPostgres, service_template: Callable[[str], str]
) -> Iterator[Callable[[str], str]]:
    """Creates a new, migrated database for a service and returns its URL; dropped when the test ends,
    so a run holds only the databases of the test at hand."""
    made: list[str] = []

    def make(service: str) -> str:
        name = f"test_{service}_{next(_db_counter)}"
        url = postgres.create_database(name, template=service_template(service))
        made.append(name)
        return url

    yield make
    for name in made:
        postgres.drop_database(name)


@pytest.fixture
async def inventory_db(
    fresh_database: Callable[[str], str], span_exporter: InMemorySpanExporter
) -> AsyncIterator[Database]:
    database = Database(fresh_database("inventory"))
    try:
        yield database
    finally:
        await database.dispose()


def token_for(role: str, user: str = "tester", *, shops: tuple[str, ...] = ("*",)) -> str:
    """A token for ``role``; an integrator's acts for ``shops`` (by default all of them)."""
    scope = shops if role == identity.INTEGRATOR else ()
    return identity.mint_token(user, [role], shops=scope)


def auth(role: str, user: str = "tester") -> list[tuple[str, str]]:
    """gRPC metadata carrying a token for ``role``."""
    return [("authorization", f"Bearer {token_for(role, user)}")]


async def apply_event(
    database: Database,
    inbox: sa.Table,
    subscriptions: Subscriptions,
    event: Message,
    *,
    event_id: uuid.UUID | None = None,
    aggregate_id: str = "",
) -> bool:
    """Applies ``event`` through the service's own subscription, as its consumer does after the broker
    delivers it (inbox and effect in one transaction); True when the effect happened now."""
    spec = catalogue().of(event)
    subscription = subscriptions.for_subject(spec.subject)
    assert subscription is not None, f"{subscriptions.service} does not subscribe to {spec.subject}"
    event_id = event_id or uuid.uuid4()
    delivery = Delivery(
        spec.subject,
        event.SerializeToString(),
        {"Nats-Msg-Id": str(event_id), "Shop-Event-Type": spec.full_name, "Shop-Aggregate-Id": aggregate_id},
        1,
    )
    return event_id in await Applier(database, inbox, subscription).apply([delivery])
