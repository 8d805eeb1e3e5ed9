"""``libs.upsert``: INSERT ... ON CONFLICT compiled once per shape, with each execution's own values."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from libs import bulk
from libs.db import Database
from libs.upsert import insert

metadata = sa.MetaData()
tins = sa.Table(
    "tins",
    metadata,
    sa.Column("sku_code", sa.Text, primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("note", sa.Text, nullable=False, server_default=""),
)


@pytest.fixture
async def db(postgres, request) -> AsyncIterator[Database]:
    database = Database(postgres.create_database(f"upsert_{request.node.name[5:40]}"))
    async with database.transaction() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def upsert(sku: str, quantity: int, note: str) -> sa.Insert:
    statement = insert(tins).values(sku_code=sku, quantity=quantity)
    return statement.on_conflict_do_update(
        index_elements=[tins.c.sku_code],
        set_={"quantity": tins.c.quantity + statement.excluded.quantity, tins.c.note: note},
        where=tins.c.quantity < 100,
    )


def test_the_same_shape_has_one_cache_key_whatever_its_values():
    first, second = upsert("A", 1, "x"), upsert("B", 2, "y")
    assert first._generate_cache_key() is not None
    assert first._generate_cache_key() == second._generate_cache_key()
    other_target = insert(tins).values(sku_code="A", quantity=1).on_conflict_do_nothing(constraint="pk_tins")
    plain = insert(tins).values(sku_code="A", quantity=1).on_conflict_do_nothing()
    assert other_target._generate_cache_key() is not None
    assert other_target._generate_cache_key() != plain._generate_cache_key()


async def test_a_cached_upsert_runs_with_each_executions_values(db):
    async with db.transaction() as conn:
        await conn.execute(upsert("A", 5, "first"))
        await conn.execute(upsert("A", 7, "second"))  # from the cache: its own values, not the first's
        await conn.execute(upsert("B", 1, "inserted, so no note"))
        await conn.execute(sa.update(tins).where(tins.c.sku_code == "B").values(quantity=100))
        await conn.execute(upsert("B", 1, "refused by the where clause"))
        rows = (await conn.execute(sa.select(tins).order_by(tins.c.sku_code))).all()
    assert [tuple(r) for r in rows] == [("A", 12, "second"), ("B", 100, "")]


async def test_many_rows_do_nothing_on_conflict_and_return_what_they_wrote(db):
    names = ("sku_code", "quantity")
    statement = bulk.insert_rows(tins, names).on_conflict_do_nothing().returning(tins.c.sku_code)
    async with db.transaction() as conn:
        first = (await conn.execute(statement, bulk.columns(names, [("A", 1), ("B", 2)]))).scalars().all()
        again = (await conn.execute(statement, bulk.columns(names, [("B", 9), ("C", 3)]))).scalars().all()
        rows = (
            await conn.execute(sa.select(tins.c.sku_code, tins.c.quantity).order_by(tins.c.sku_code))
        ).all()
    assert sorted(first) == ["A", "B"]
    assert again == ["C"]
    assert [tuple(r) for r in rows] == [("A", 1), ("B", 2), ("C", 3)]


async def test_rows_held_as_column_lists_insert_as_rows_given_one_by_one(db):
    names = ("sku_code", "quantity")
    statement = bulk.insert_rows(tins, names)
    async with db.transaction() as conn:
        await conn.execute(statement, bulk.given_columns(names, [["A", "B"], [1, 2]]))
        rows = (
            await conn.execute(sa.select(tins.c.sku_code, tins.c.quantity).order_by(tins.c.sku_code))
        ).all()
    assert [tuple(r) for r in rows] == [("A", 1), ("B", 2)]
    assert bulk.given_columns(names, [["A", "B"], [1, 2]]) == bulk.columns(names, [("A", 1), ("B", 2)])


def test_column_lists_of_different_lengths_are_refused_before_any_statement():
    with pytest.raises(ValueError, match="2 columns of one length"):
        bulk.given_columns(("sku_code", "quantity"), [["A", "B"], [1]])
    with pytest.raises(ValueError, match="2 columns"):
        bulk.given_columns(("sku_code", "quantity"), [["A"]])
