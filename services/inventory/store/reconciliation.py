"""Ledger against balances (INV-14): every balance must equal the sum of its movements."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from services.inventory.store.tables import lot_stock, lots, stock_levels, stock_movements


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


async def discrepancies(conn: AsyncConnection, sku_codes: list[str] | None = None) -> list[Discrepancy]:
    """Compares on-hand, reserved and held per SKU and warehouse, and on-hand per lot and bin, with the
    ledger's sums; also checks that lot stock adds up to the warehouse level. Empty when the books agree."""
    found: list[Discrepancy] = []
    m = stock_movements
    ledger_levels = (
        sa.select(
            m.c.sku_code,
            m.c.warehouse_code,
            sa.func.sum(m.c.on_hand_delta).label("on_hand"),
            sa.func.sum(m.c.reserved_delta).label("reserved"),
            sa.func.sum(m.c.held_delta).label("held"),
        )
        .group_by(m.c.sku_code, m.c.warehouse_code)
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

    lot_ledger = (
        sa.select(
            m.c.lot_id,
            m.c.warehouse_code,
            m.c.bin_code,
            m.c.sku_code,
            sa.func.sum(m.c.on_hand_delta).label("on_hand"),
        )
        .where(m.c.lot_id.is_not(None))
        .group_by(m.c.lot_id, m.c.warehouse_code, m.c.bin_code, m.c.sku_code)
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
