"""Ledger against balances (INV-14): every balance must equal the sum of its movements.

The ledger only grows, so its sums are kept as a checkpoint up to one movement, advanced at each daily
close (``advance_checkpoint``): reconciling adds the movements after it to the checkpoint, and its cost
follows the movements since the last close, not the whole history. A trigger keeps past movements' summed
columns from changing, so a checkpoint stays true; ``full=True`` rereads everything all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.upsert import insert
from services.inventory.store.tables import (
    ledger_checkpoint,
    ledger_checkpoint_bins,
    ledger_checkpoint_levels,
    lot_stock,
    lots,
    stock_levels,
    stock_movements,
)


@dataclass(frozen=True)
class Discrepancy:
    """A balance that differs from the ledger: what, where, the books' figure and the ledger's."""

    measure: str
    sku_code: str
    warehouse_code: str
    lot_id: str
    bin_code: str
    balance: int
    ledger: int


async def checkpoint_upto(conn: AsyncConnection) -> int:
    """The last movement the checkpoint sums (0 before the first close)."""
    upto = (await conn.execute(sa.select(ledger_checkpoint.c.upto_movement_id))).scalar()
    return int(upto or 0)


def _level_sums(after: int, upto: int | None = None) -> sa.Select[tuple[str, str, int, int, int]]:
    m = stock_movements
    where = [m.c.movement_id > after] + ([m.c.movement_id <= upto] if upto is not None else [])
    return sa.select(
        m.c.sku_code, m.c.warehouse_code, m.c.on_hand_delta, m.c.reserved_delta, m.c.held_delta
    ).where(*where)


def _bin_sums(after: int, upto: int | None = None) -> sa.Select[tuple[object, str, str, str, int]]:
    m = stock_movements
    where = [m.c.lot_id.is_not(None), m.c.movement_id > after]
    where += [m.c.movement_id <= upto] if upto is not None else []
    return sa.select(m.c.lot_id, m.c.warehouse_code, m.c.bin_code, m.c.sku_code, m.c.on_hand_delta).where(
        *where
    )


async def discrepancies(
    conn: AsyncConnection, sku_codes: list[str] | None = None, *, full: bool = False
) -> list[Discrepancy]:
    """Compares on-hand, reserved and held per SKU and warehouse, and on-hand per lot and bin, with the
    ledger's sums; also checks that lot stock adds up to the warehouse level. Empty when the books agree.
    The sums are the checkpoint's plus the movements after it, or every movement's with ``full``."""
    found: list[Discrepancy] = []
    after = 0 if full else await checkpoint_upto(conn)
    c = ledger_checkpoint_levels
    level_rows = _level_sums(after)
    moved = (
        level_rows.union_all(sa.select(c.c.sku_code, c.c.warehouse_code, c.c.on_hand, c.c.reserved, c.c.held))
        if after
        else level_rows
    ).subquery()
    ledger_levels = (
        sa.select(
            moved.c.sku_code,
            moved.c.warehouse_code,
            sa.func.sum(moved.c.on_hand_delta).label("on_hand"),
            sa.func.sum(moved.c.reserved_delta).label("reserved"),
            sa.func.sum(moved.c.held_delta).label("held"),
        )
        .group_by(moved.c.sku_code, moved.c.warehouse_code)
        .subquery()
    )
    lot_totals = (
        sa.select(
            lots.c.sku_code, lot_stock.c.warehouse_code, sa.func.sum(lot_stock.c.on_hand).label("on_hand")
        )
        .select_from(lot_stock.join(lots, lots.c.lot_id == lot_stock.c.lot_id))
        .group_by(lots.c.sku_code, lot_stock.c.warehouse_code)
        .subquery()
    )
    s = stock_levels
    query = sa.select(
        sa.func.coalesce(s.c.sku_code, ledger_levels.c.sku_code).label("sku_code"),
        sa.func.coalesce(s.c.warehouse_code, ledger_levels.c.warehouse_code).label("warehouse_code"),
        sa.func.coalesce(s.c.on_hand, 0).label("on_hand"),
        sa.func.coalesce(s.c.reserved, 0).label("reserved"),
        sa.func.coalesce(s.c.held, 0).label("held"),
        sa.func.coalesce(ledger_levels.c.on_hand, 0).label("l_on_hand"),
        sa.func.coalesce(ledger_levels.c.reserved, 0).label("l_reserved"),
        sa.func.coalesce(ledger_levels.c.held, 0).label("l_held"),
        sa.func.coalesce(lot_totals.c.on_hand, 0).label("lots_on_hand"),
    ).select_from(
        s.join(
            ledger_levels,
            sa.and_(
                s.c.sku_code == ledger_levels.c.sku_code, s.c.warehouse_code == ledger_levels.c.warehouse_code
            ),
            full=True,
        ).outerjoin(
            lot_totals,
            sa.and_(
                lot_totals.c.sku_code == sa.func.coalesce(s.c.sku_code, ledger_levels.c.sku_code),
                lot_totals.c.warehouse_code
                == sa.func.coalesce(s.c.warehouse_code, ledger_levels.c.warehouse_code),
            ),
        )
    )
    for r in (await conn.execute(query)).all():
        if sku_codes is not None and r.sku_code not in sku_codes:
            continue
        for measure, balance, ledger in (
            ("on_hand", r.on_hand, r.l_on_hand),
            ("reserved", r.reserved, r.l_reserved),
            ("held", r.held, r.l_held),
            ("lot_on_hand", r.lots_on_hand, r.on_hand),
        ):
            if balance != ledger:
                found.append(
                    Discrepancy(measure, r.sku_code, r.warehouse_code, "", "", int(balance), int(ledger))
                )

    b = ledger_checkpoint_bins
    bin_rows = _bin_sums(after)
    binned = (
        bin_rows.union_all(sa.select(b.c.lot_id, b.c.warehouse_code, b.c.bin_code, b.c.sku_code, b.c.on_hand))
        if after
        else bin_rows
    ).subquery()
    lot_ledger = (
        sa.select(
            binned.c.lot_id,
            binned.c.warehouse_code,
            binned.c.bin_code,
            binned.c.sku_code,
            sa.func.sum(binned.c.on_hand_delta).label("on_hand"),
        )
        .group_by(binned.c.lot_id, binned.c.warehouse_code, binned.c.bin_code, binned.c.sku_code)
        .subquery()
    )
    ls = lot_stock
    lot_of_bin = lots.alias("lot_of_bin")
    per_bin = sa.select(
        lot_of_bin.c.sku_code,
        sa.func.coalesce(ls.c.lot_id, lot_ledger.c.lot_id).label("lot_id"),
        sa.func.coalesce(ls.c.warehouse_code, lot_ledger.c.warehouse_code).label("warehouse_code"),
        sa.func.coalesce(ls.c.bin_code, lot_ledger.c.bin_code).label("bin_code"),
        sa.func.coalesce(ls.c.on_hand, 0).label("balance"),
        sa.func.coalesce(lot_ledger.c.on_hand, 0).label("ledger"),
    ).select_from(
        ls.join(
            lot_ledger,
            sa.and_(
                ls.c.lot_id == lot_ledger.c.lot_id,
                ls.c.warehouse_code == lot_ledger.c.warehouse_code,
                ls.c.bin_code == lot_ledger.c.bin_code,
            ),
            full=True,
        ).join(lot_of_bin, lot_of_bin.c.lot_id == sa.func.coalesce(ls.c.lot_id, lot_ledger.c.lot_id))
    )
    for r in (await conn.execute(per_bin)).all():
        if sku_codes is not None and r.sku_code not in sku_codes:
            continue
        if r.balance != r.ledger:
            found.append(
                Discrepancy(
                    "bin_on_hand",
                    r.sku_code or "",
                    r.warehouse_code,
                    str(r.lot_id),
                    r.bin_code,
                    int(r.balance),
                    int(r.ledger),
                )
            )
    return found


async def advance_checkpoint(conn: AsyncConnection) -> int:
    """Adds the movements since the checkpoint to it; returns the last movement it now sums. The caller
    holds the ledger in SHARE mode (``hold_ledger``), so every movement up to the newest is committed."""
    after = await checkpoint_upto(conn)
    upto = (await conn.execute(sa.select(sa.func.max(stock_movements.c.movement_id)))).scalar()
    if upto is None or upto <= after:
        return after
    moved = _level_sums(after, upto).subquery()
    c = ledger_checkpoint_levels
    levels = insert(c).from_select(
        ["sku_code", "warehouse_code", "on_hand", "reserved", "held"],
        sa.select(
            moved.c.sku_code,
            moved.c.warehouse_code,
            sa.func.sum(moved.c.on_hand_delta),
            sa.func.sum(moved.c.reserved_delta),
            sa.func.sum(moved.c.held_delta),
        ).group_by(moved.c.sku_code, moved.c.warehouse_code),
    )
    await conn.execute(
        levels.on_conflict_do_update(
            index_elements=[c.c.sku_code, c.c.warehouse_code],
            set_={
                "on_hand": c.c.on_hand + levels.excluded.on_hand,
                "reserved": c.c.reserved + levels.excluded.reserved,
                "held": c.c.held + levels.excluded.held,
            },
        )
    )
    binned = _bin_sums(after, upto).subquery()
    b = ledger_checkpoint_bins
    bins = insert(b).from_select(
        ["lot_id", "warehouse_code", "bin_code", "sku_code", "on_hand"],
        sa.select(
            binned.c.lot_id, binned.c.warehouse_code, binned.c.bin_code, binned.c.sku_code,
            sa.func.sum(binned.c.on_hand_delta),
        ).group_by(binned.c.lot_id, binned.c.warehouse_code, binned.c.bin_code, binned.c.sku_code),
    )  # fmt: skip
    await conn.execute(
        bins.on_conflict_do_update(
            index_elements=[b.c.lot_id, b.c.warehouse_code, b.c.bin_code],
            set_={"on_hand": b.c.on_hand + bins.excluded.on_hand},
        )
    )
    point = insert(ledger_checkpoint).values(checkpoint=True, upto_movement_id=upto)
    await conn.execute(
        point.on_conflict_do_update(
            index_elements=[ledger_checkpoint.c.checkpoint],
            set_={"upto_movement_id": upto, "taken_at": sa.func.now()},
        )
    )
    return int(upto)


async def hold_ledger(conn: AsyncConnection) -> None:
    """Waits for the movements being written to commit and holds new ones until this transaction ends:
    the ledger and the books then stand still for a close (postings wait, reads do not)."""
    await conn.execute(sa.text("LOCK TABLE stock_movements IN SHARE MODE"))
