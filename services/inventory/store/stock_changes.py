"""The stock change feed (INV-10): which SKUs' available stock changed, in the order a cursor can follow.

``ledger.post`` records, in its own transaction, the SKUs whose available stock it changed. A reader pages
through them in (transaction id, sequence) order, but only below the oldest transaction of this database
still running: a transaction that began earlier and commits later has a smaller id than any the
cursor has passed, so no change is ever skipped, and the feed lags the books by the longest transaction
in flight. Each page answers with every changed SKU's available stock for sale as it is when read: a
listing set to it equals the books once the reader is caught up.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import any_of, columns, insert_rows
from libs.errors import InvalidArgument
from services.inventory.store.tables import stock_changes, stock_levels, warehouses

_ADD = insert_rows(stock_changes, ("sku_code",))


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a reader is: after the change (tx, seq). The start is (0, 0)."""

    tx: int
    seq: int

    def token(self) -> str:
        return base64.urlsafe_b64encode(struct.pack(">QQ", self.tx, self.seq)).decode().rstrip("=")

    @classmethod
    def parse(cls, token: str, field: str = "cursor") -> Cursor:
        if not token:
            return cls(0, 0)
        try:
            tx, seq = struct.unpack(">QQ", base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        except (ValueError, struct.error):
            raise InvalidArgument.for_field(field, "is not a cursor this feed gave") from None
        return cls(tx, seq)


@dataclass(frozen=True)
class SkuAvailability:
    """A SKU's available stock for sale across its sellable warehouses, as read with the page."""

    sku_code: str
    available: int
    changed_at: datetime


async def record(conn: AsyncConnection, sku_codes: Sequence[str]) -> None:
    """Notes, in the caller's transaction, that these SKUs' available stock changed."""
    if sku_codes:
        await conn.execute(_ADD, columns(("sku_code",), ((sku,) for sku in sorted(set(sku_codes)))))


async def page(conn: AsyncConnection, after: Cursor, limit: int) -> tuple[list[SkuAvailability], Cursor]:
    """The SKUs changed after ``after`` (at most ``limit`` changes read), each once with its available
    stock now, and the cursor to pass next (``after`` itself when nothing changed)."""
    rows = (
        await conn.execute(
            sa.select(
                sa.cast(stock_changes.c.tx, sa.Text).label("tx"),
                stock_changes.c.seq,
                stock_changes.c.sku_code,
                stock_changes.c.changed_at,
            )
            .where(
                sa.tuple_(stock_changes.c.tx, stock_changes.c.seq)
                > sa.tuple_(
                    sa.cast(sa.literal(str(after.tx)), stock_changes.c.tx.type), sa.literal(after.seq)
                ),
                _readable(),
            )
            .order_by(stock_changes.c.tx, stock_changes.c.seq)
            .limit(limit)
        )
    ).all()
    if not rows:
        return [], after
    changed: dict[str, datetime] = {}
    for row in rows:
        changed.pop(row.sku_code, None)  # in the order of each SKU's last change
        changed[row.sku_code] = row.changed_at
    available = {
        sku: int(units)
        for sku, units in await conn.execute(
            sa.select(
                stock_levels.c.sku_code,
                sa.func.sum(stock_levels.c.on_hand - stock_levels.c.reserved - stock_levels.c.held),
            )
            .join(warehouses, warehouses.c.warehouse_code == stock_levels.c.warehouse_code)
            .where(any_of(stock_levels.c.sku_code, sorted(changed)), warehouses.c.sellable)
            .group_by(stock_levels.c.sku_code)
        )
    }
    last = rows[-1]
    return (
        [SkuAvailability(sku, available.get(sku, 0), at) for sku, at in changed.items()],
        Cursor(int(last.tx), last.seq),
    )


# The oldest transaction still running that may be one of this database's: any in the page's snapshot
# except those a backend of another database is known to run (a suite may keep every service's database
# in one PostgreSQL, where a long transaction of orders must not hold back inventory's feed). An xid whose
# backend is not visible, or gone by the time pg_stat_activity is read, counts as this database's: the
# bound is then lower than it could be, never higher. xid8 and xid compare by their low 32 bits.
_OLDEST_RUNNING_HERE = sa.literal_column(
    """
    (SELECT coalesce(min(running), pg_snapshot_xmax(pg_current_snapshot()))
       FROM pg_snapshot_xip(pg_current_snapshot()) AS running
      WHERE NOT EXISTS (
            SELECT 1
              FROM pg_stat_activity AS elsewhere
             WHERE elsewhere.datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
               AND elsewhere.backend_xid::text = (running::text::numeric % 4294967296)::text))
    """,
    type_=stock_changes.c.tx.type,
)


def _readable() -> sa.ColumnElement[bool]:
    """Changes of transactions older than every one of this database still running: none can commit
    behind them."""
    return stock_changes.c.tx < _OLDEST_RUNNING_HERE


async def tip(conn: AsyncConnection) -> Cursor:
    """The newest change a reader can be given now (the start when there is none): a cursor before it
    has a page waiting."""
    row = (
        await conn.execute(
            sa.select(sa.cast(stock_changes.c.tx, sa.Text).label("tx"), stock_changes.c.seq)
            .where(_readable())
            .order_by(stock_changes.c.tx.desc(), stock_changes.c.seq.desc())
            .limit(1)
        )
    ).first()
    return Cursor(int(row.tx), row.seq) if row is not None else Cursor(0, 0)


async def prune(conn: AsyncConnection, older_than_days: float) -> int:
    """Forgets changes older than ``older_than_days``; a reader that far behind starts again from a full
    listing."""
    result = await conn.execute(
        stock_changes.delete().where(
            stock_changes.c.changed_at < sa.func.now() - sa.text(f"interval '{float(older_than_days)} days'")
        )
    )
    return result.rowcount or 0
