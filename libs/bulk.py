"""Many rows, one statement: rows travel as one array parameter per column.

A batch (a page of orders, a review batch, a wave's ten thousand shipments) writes hundreds of rows and
more at once. ``INSERT ... SELECT FROM unnest(:a, :b, ...)``, ``UPDATE ... FROM unnest(...)`` and
``col = ANY(:ids)`` have a text that does not depend on the number of rows: compiling it costs the same for
one row as for ten thousand (SQLAlchemy caches it) and the server prepares it once. An executemany pays its
per-row cost (~0.1 ms) for every row, and a multi-row VALUES or an expanding IN is compiled, parsed and
planned anew for every size.

The arrays travel in PostgreSQL's binary format (``array_type``): psycopg's text format quotes and escapes
every item in Python — 60 us for an event payload's bytes, more than the statement itself, and some 10 ms
for a batch of 200 shipments' 21 columns, three times what the server spends inserting them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.array import ListBinaryDumper
from sqlalchemy.dialects import postgresql as pg

from libs.upsert import Insert, insert


class _BinaryList(list[object]):
    """A list psycopg sends in the binary format (registered below, for every connection made after)."""


psycopg.adapters.register_dumper(_BinaryList, ListBinaryDumper)


class _BinaryArray(sa.TypeDecorator[list[Any]]):
    """An array parameter sent in PostgreSQL's binary format: the items go through their type's own bind
    processing, if it has any, and the list is dumped in binary."""

    impl = pg.ARRAY
    cache_ok = True

    def bind_processor(self, dialect: sa.Dialect) -> Any:
        array: pg.ARRAY[Any] = self.impl_instance  # type: ignore[assignment]
        item = array.item_type.dialect_impl(dialect).bind_processor(dialect)
        if item is None:
            return lambda value: None if value is None else _BinaryList(value)
        return lambda value: None if value is None else _BinaryList([item(v) for v in value])


def array_type(item: sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]) -> sa.types.TypeEngine[Any]:
    """The type of a parameter that is an array of ``item`` (``= ANY(:ids)``, ``unnest(:a, :b)``): sent in
    PostgreSQL's binary format, which psycopg writes some four times faster than the text format (no
    quoting and escaping of every item in Python). Arrays of arrays keep the text format."""
    instance = item() if isinstance(item, type) else item
    return pg.ARRAY(instance) if isinstance(instance, sa.ARRAY) else _BinaryArray(instance)


def _array_of(name: str, prefix: str = "") -> str:
    # Not the column's own name, which SQLAlchemy keeps for an INSERT's or UPDATE's own values; a prefix
    # keeps apart the rows of several tables written by one statement.
    return f"{prefix}{name}_array"


def any_of(column: sa.Column[Any], values: Iterable[object]) -> sa.ColumnElement[bool]:
    """``column = ANY(:values)``: membership in a list passed as one array parameter."""
    return column == sa.any_(sa.bindparam(None, list(values), type_=array_type(column.type)))


def rows_of(table: sa.Table, names: Sequence[str], prefix: str = "") -> sa.TableValuedAlias:
    """``unnest(:name1_array, :name2_array, ...) AS given(name1, name2, ...)``: rows given as one array per
    column of ``table`` (``columns(names, rows, prefix)``), the arrays zipped by position."""
    return (
        sa.func.unnest(
            *(sa.bindparam(_array_of(name, prefix), type_=array_type(table.c[name].type)) for name in names)
        )
        .table_valued(*names)
        .render_derived(name="given")
    )


# Built once per table and names (tuples): building a statement costs more than running it from the cache.
@functools.cache
def insert_rows(table: sa.Table, names: Sequence[str]) -> Insert:
    """``INSERT INTO table (names) SELECT * FROM unnest(...)``; executed with ``columns(names, rows)``.
    ON CONFLICT and RETURNING may be added as to any insert."""
    given = rows_of(table, names)
    return insert(table).from_select(list(names), sa.select(*(given.c[name] for name in names)))


@functools.cache
def update_rows(table: sa.Table, key: Sequence[str], names: Sequence[str]) -> sa.Update:
    """``UPDATE table SET names FROM unnest(...) WHERE key matches``: one row's new values per key;
    executed with ``columns((*key, *names), rows)``."""
    given = rows_of(table, (*key, *names))
    return (
        table.update().where(*(table.c[k] == given.c[k] for k in key)).values({n: given.c[n] for n in names})
    )


def columns(
    names: Sequence[str], rows: Iterable[Sequence[object]], prefix: str = ""
) -> dict[str, list[object]]:
    """The parameters of ``insert_rows``/``update_rows``/``rows_of``: ``rows`` (tuples in the order of
    ``names``) as one list per column."""
    by_column: dict[str, list[object]] = {_array_of(name, prefix): [] for name in names}
    lists = list(by_column.values())
    for row in rows:
        for values, value in zip(lists, row, strict=True):
            values.append(value)
    return by_column


def given_columns(
    names: Sequence[str], lists: Sequence[Sequence[object]], prefix: str = ""
) -> dict[str, Sequence[object]]:
    """``columns`` for rows that are held as one list per column already (in the order of ``names``): the
    cheapest way to make thousands of rows is to append each value to its column's list."""
    if len(lists) != len(names) or len({len(values) for values in lists}) > 1:
        raise ValueError(f"expected {len(names)} columns of one length, got {[len(v) for v in lists]}")
    return {_array_of(name, prefix): values for name, values in zip(names, lists, strict=True)}


def arrays(
    rows: Iterable[Mapping[str, Any]], names: Sequence[str], prefix: str = ""
) -> dict[str, list[object]]:
    """``columns`` for rows given as mappings by column name."""
    return columns(names, ([row[name] for name in names] for row in rows), prefix)
