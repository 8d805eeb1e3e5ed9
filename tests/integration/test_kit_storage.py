"""The kit's storage pieces against a real PostgreSQL: migrations, idempotency, outbox relay and inbox."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from google.protobuf import wrappers_pb2
from shop.inventory.v1 import inventory_pb2 as pb

from libs import identity
from libs.db import Database, migrate
from libs.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from libs.policy import RESUMABLE, TRANSACTIONAL, Claims, Idempotency, MethodPolicy
from services.inventory.store.tables import kit
from tests.conftest import REPO

MIGRATIONS = REPO / "services" / "inventory" / "store" / "migrations"


def text(value: str) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=value)


async def rows(db: Database, table: sa.Table) -> int:
    async with db.connection() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


def head_revision(migrations: Path) -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


# --- migrations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["inventory", "orders", "logistics", "returns", "payroll"])
def test_every_service_migrates_its_own_database_and_again_is_a_no_op(postgres, service):
    url = postgres.create_database(f"mig_{service}")
    migrations = Path(REPO / "services" / service / "store" / "migrations")
    migrate(url, migrations)
    migrate(url, migrations)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert {"outbox", "inbox", "idempotency_keys", "alembic_version"} <= tables
    assert version == head_revision(migrations)


def test_replicas_migrating_at_once_do_not_collide(postgres):
    """Several replicas starting together each run `migrate`; the advisory lock serialises them."""
    url = postgres.create_database("mig_concurrent")
    env = {**os.environ, "SHOP_INVENTORY_DATABASE_URL": url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "services.inventory", "migrate"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs


# --- idempotency: the claims the policy interceptor makes (libs/policy.py) -------------------------

SCRATCH = sa.Table("scratch_writes", sa.MetaData(), sa.Column("value", sa.Text))


def policy(
    idempotency: Idempotency.ValueType = TRANSACTIONAL, method: str = "/test.Claims/Op"
) -> MethodPolicy:
    return MethodPolicy(method, frozenset({"sre"}), idempotency, False, wrappers_pb2.StringValue)


def req(request_id: str, payload: str = "a") -> pb.CreateWarehouseRequest:
    # Any request with a request_id will do; the claim keys on the method and the id.
    return pb.CreateWarehouseRequest(request_id=request_id, warehouse_code=payload)


def calling_as(subject: str) -> contextvars.Token[identity.Identity | None]:
    return identity.set_current(identity.Identity(subject, frozenset({"sre"})))


@pytest.fixture
async def claims(inventory_db: Database) -> AsyncIterator[Claims]:
    async with inventory_db.transaction() as conn:
        await conn.run_sync(lambda c: SCRATCH.create(c, checkfirst=True))
    caller = calling_as("sre-1")
    yield Claims(inventory_db, kit.idempotency)
    identity.reset_current(caller)


async def write_scratch(db: Database, value: str) -> wrappers_pb2.StringValue:
    """A handler's own transaction, as servicers write: it joins the call's transaction."""
    async with db.transaction() as conn:
        await conn.execute(SCRATCH.insert().values(value=value))
    return text(value)


async def test_transactional_call_runs_once_and_replays_its_answer(claims):
    calls = 0

    async def handler() -> wrappers_pb2.StringValue:
        nonlocal calls
        calls += 1
        return await write_scratch(claims.database, f"result-{calls}")

    answers = [await claims.once(policy(), req("k1"), handler) for _ in range(3)]
    assert calls == 1
    assert [a.value for a in answers] == ["result-1"] * 3
    assert await rows(claims.database, SCRATCH) == 1


async def test_call_without_request_id_is_a_new_request_each_time(claims):
    async def handler() -> wrappers_pb2.StringValue:
        return await write_scratch(claims.database, "x")

    for _ in range(2):
        await claims.once(policy(), req(""), handler)
    assert await rows(claims.database, SCRATCH) == 2
    assert await rows(claims.database, kit.idempotency) == 0


async def test_blank_or_long_request_id_refused_naming_it(claims):
    async def handler() -> wrappers_pb2.StringValue:
        return text("ok")

    for bad in (" ", "x" * 129):
        with pytest.raises(InvalidArgument) as exc:
            await claims.once(policy(), req(bad), handler)
        assert exc.value.violations[0].field == "request_id"
    await claims.once(policy(), req("x" * 128), handler)


async def test_same_key_different_request_refused(claims):
    async def handler() -> wrappers_pb2.StringValue:
        return text("ok")

    await claims.once(policy(), req("k1", "a"), handler)
    with pytest.raises(AlreadyExists) as exc:
        await claims.once(policy(), req("k1", "b"), handler)
    assert exc.value.violations[0].field == "request_id"


async def test_same_key_in_another_method_is_independent(claims):
    async def handler() -> wrappers_pb2.StringValue:
        return text("ok")

    for method in ("/test.Claims/Reserve", "/test.Claims/Release"):
        await claims.once(policy(method=method), req("order-1"), handler)
    assert await rows(claims.database, kit.idempotency) == 2


async def test_another_callers_same_id_is_a_request_of_its_own(claims):
    """Keys belong to their caller: another caller's id never gets the first caller's answer."""
    calls = 0

    async def handler() -> wrappers_pb2.StringValue:
        nonlocal calls
        calls += 1
        return await write_scratch(claims.database, f"by-{calls}")

    first = await claims.once(policy(), req("k1"), handler)
    other = calling_as("sre-2")
    try:
        second = await claims.once(policy(), req("k1"), handler)
    finally:
        identity.reset_current(other)
    assert (first.value, second.value, calls) == ("by-1", "by-2", 2)


async def test_refused_call_stores_neither_its_writes_nor_its_claim(claims):
    async def refuse() -> wrappers_pb2.StringValue:
        await write_scratch(claims.database, "half-written")
        raise FailedPrecondition("state forbids it")

    with pytest.raises(FailedPrecondition):
        await claims.once(policy(), req("k1"), refuse)
    assert await rows(claims.database, kit.idempotency) == 0
    assert await rows(claims.database, SCRATCH) == 0


async def test_concurrent_duplicates_perform_once(claims):
    performed = 0

    async def handler() -> wrappers_pb2.StringValue:
        nonlocal performed
        performed += 1
        await asyncio.sleep(0.05)  # hold the key while the duplicates arrive
        return await write_scratch(claims.database, str(uuid.uuid4()))

    answers = await asyncio.gather(*(claims.once(policy(), req("same"), handler) for _ in range(15)))
    assert performed == 1
    assert len({a.value for a in answers}) == 1
    assert await rows(claims.database, SCRATCH) == 1


async def test_resumable_call_commits_its_steps_and_resumes_after_a_crash(claims):
    """A saga's steps commit on their own; a crash before the answer leaves the claim open, and the retry
    runs the steps again (each idempotent) and stores the answer the next retry gets."""
    attempts = 0

    async def saga() -> wrappers_pb2.StringValue:
        nonlocal attempts
        attempts += 1
        await write_scratch(claims.database, f"step-{attempts}")
        if attempts == 1:
            raise ConnectionError("crashed between the step and the answer")
        return text(f"done-{attempts}")

    with pytest.raises(ConnectionError):
        await claims.once(policy(RESUMABLE), req("saga-1"), saga)
    assert await rows(claims.database, SCRATCH) == 1  # the step outlived the crash
    assert (await claims.once(policy(RESUMABLE), req("saga-1"), saga)).value == "done-2"
    assert (await claims.once(policy(RESUMABLE), req("saga-1"), saga)).value == "done-2"
    assert attempts == 2


@pytest.mark.parametrize("service", ["inventory", "orders", "logistics", "returns", "payroll"])
def test_migrations_create_exactly_the_declared_tables(postgres, service):
    """A table or column declared in store/tables.py without its migration fails here, not in production."""
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    metadata = importlib.import_module(f"services.{service}.store.tables").metadata
    url = postgres.create_database(f"drift_{service}")
    migrate(url, REPO / "services" / service / "store" / "migrations")
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []
