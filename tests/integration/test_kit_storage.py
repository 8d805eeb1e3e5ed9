"""The kit's storage pieces against a real PostgreSQL: migrations, idempotency, outbox relay and inbox."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from google.protobuf import wrappers_pb2

from libs import idempotency
from libs.db import Database, migrate
from libs.errors import AlreadyExists, FailedPrecondition, InvalidArgument
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


# --- idempotency -------------------------------------------------------------------------------


async def test_idempotent_operation_runs_once_and_replays_its_answer(inventory_db):
    calls = 0

    async def perform() -> wrappers_pb2.StringValue:
        nonlocal calls
        calls += 1
        return text(f"result-{calls}")

    answers = []
    for _ in range(3):
        async with inventory_db.transaction() as conn:
            answers.append(
                await idempotency.once(
                    conn,
                    kit.idempotency,
                    operation="Op",
                    request_id="k1",
                    request=text("payload"),
                    response_type=wrappers_pb2.StringValue,
                    perform=perform,
                )
            )
    assert calls == 1
    assert [a.value for a in answers] == ["result-1"] * 3


async def test_same_key_different_payload_refused(inventory_db):
    async def perform() -> wrappers_pb2.StringValue:
        return text("ok")

    async with inventory_db.transaction() as conn:
        await idempotency.once(
            conn, kit.idempotency, operation="Op", request_id="k1", request=text("a"),
            response_type=wrappers_pb2.StringValue, perform=perform,
        )  # fmt: skip
    with pytest.raises(AlreadyExists) as exc:
        async with inventory_db.transaction() as conn:
            await idempotency.once(
                conn, kit.idempotency, operation="Op", request_id="k1", request=text("b"),
                response_type=wrappers_pb2.StringValue, perform=perform,
            )  # fmt: skip
    assert exc.value.violations[0].field == "request_id"


async def test_same_key_in_another_operation_is_independent(inventory_db):
    async def perform() -> wrappers_pb2.StringValue:
        return text("ok")

    for operation in ("Reserve", "Release"):
        async with inventory_db.transaction() as conn:
            await idempotency.once(
                conn, kit.idempotency, operation=operation, request_id="order-1", request=text("a"),
                response_type=wrappers_pb2.StringValue, perform=perform,
            )  # fmt: skip
    assert await rows(inventory_db, kit.idempotency) == 2


async def test_refused_operation_stores_no_key_and_can_be_retried(inventory_db):
    async def refuse() -> wrappers_pb2.StringValue:
        raise FailedPrecondition("state forbids it")

    with pytest.raises(FailedPrecondition):
        async with inventory_db.transaction() as conn:
            await idempotency.once(
                conn, kit.idempotency, operation="Op", request_id="k1", request=text("a"),
                response_type=wrappers_pb2.StringValue, perform=refuse,
            )  # fmt: skip
    assert await rows(inventory_db, kit.idempotency) == 0


async def test_concurrent_duplicates_perform_once(inventory_db):
    performed = 0

    async def perform() -> wrappers_pb2.StringValue:
        nonlocal performed
        performed += 1
        await asyncio.sleep(0.05)  # hold the key while the duplicates arrive
        return text(str(uuid.uuid4()))

    async def attempt() -> str:
        async with inventory_db.transaction() as conn:
            reply = await idempotency.once(
                conn, kit.idempotency, operation="Op", request_id="same", request=text("a"),
                response_type=wrappers_pb2.StringValue, perform=perform,
            )  # fmt: skip
            return reply.value

    answers = await asyncio.gather(*(attempt() for _ in range(15)))
    assert performed == 1
    assert len(set(answers)) == 1


def test_request_id_must_be_present_and_short():
    with pytest.raises(InvalidArgument):
        idempotency.check_request_id(" ")
    with pytest.raises(InvalidArgument):
        idempotency.check_request_id("x" * 129)
    idempotency.check_request_id("x" * 128)


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
