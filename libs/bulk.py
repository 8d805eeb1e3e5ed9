"""Many rows in one statement of constant text: ``INSERT ... SELECT * FROM unnest(...)`` and
``UPDATE ... FROM unnest(...)``, with one array parameter per column.

A batch (a page of orders, a review batch) writes hundreds of rows at once. A multi-row VALUES list
makes a new statement text for every row count, which the driver parses and PostgreSQL plans anew each
time; an ``executemany`` sends a statement per row. With arrays the text is the same whatever the
count, so the driver and the server prepare it once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql import Insert, insert


def _unnest(table: sa.Table, columns: Sequence[str]) -> sa.TableValuedAlias:
    """The rows given as one array parameter per column (named ``_<column>``), as a FROM item."""
    arrays = [sa.bindparam(f"_{c}", type_=pg.ARRAY(table.c[c].type)) for c in columns]
    return sa.func.unnest(*arrays).table_valued(*columns).render_derived(name="batch")


def insert_rows(table: sa.Table, columns: Sequence[str]) -> Insert:
    """``INSERT INTO table (columns) SELECT ... FROM unnest(...)``: execute with ``arrays(rows, columns)``.
    ON CONFLICT and RETURNING may be added as to any insert."""
    rows = _unnest(table, columns)
    return insert(table).from_select(list(columns), sa.select(*(rows.c[c] for c in columns)))


def update_rows(table: sa.Table, key: Sequence[str], columns: Sequence[str]) -> sa.Update:
    """``UPDATE table SET columns FROM unnest(...) WHERE key matches``: one row's new values per key;
    execute with ``arrays(rows, [*key, *columns])``."""
    rows = _unnest(table, [*key, *columns])
    return (
        table.update().where(*(table.c[k] == rows.c[k] for k in key)).values({c: rows.c[c] for c in columns})
    )


def arrays(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    """The parameters of ``insert_rows``/``update_rows``: one list per column, in row order."""
    return {f"_{c}": [row[c] for row in rows] for c in columns}
