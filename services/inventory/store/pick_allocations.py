"""Pick allocations (LOG-2, INV-11): when a wave closes, each of its shipments is given the lots and bins it
is picked from, oldest lot first, and those units are kept for it until its stock is issued from exactly
them at dispatch. The pick list and the issue therefore read the same rows and cannot disagree.

Allocation takes the stock levels' locks in the ledger's one order (``ledger.lock_levels``), so it never
deadlocks with a posting, and only offers units no other shipment keeps.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import any_of, insert_rows
from libs.errors import DomainError, FailedPrecondition, InvalidArgument
from services.inventory.domain.lots import LotStock, Pick, fifo_order
from services.inventory.store import ledger, reservations
from services.inventory.store.tables import lots, pick_allocations

MAX_SHIPMENTS = 2000

# A call's allocations run to thousands of rows: ids are passed as one array parameter (``= ANY``) and rows
# are inserted from arrays (``unnest``), so each statement's text is the same for any count. SQLAlchemy then
# compiles it once and the server plans it once, where an expanding IN or a multi-row VALUES is compiled anew
# for every count, and an executemany pays its own cost for every row.
_ROW_COLUMNS = ("shipment_id", "sku_code", "lot_id", "bin_code", "order_id", "warehouse_code", "quantity")
_INSERT = insert_rows(pick_allocations, _ROW_COLUMNS)


@dataclass(frozen=True)
class ShipmentToPick:
    """A shipment of an order and the units it carries."""

    shipment_id: str
    order_id: str
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class KeptLot:
    """Units of a lot kept for a shipment in one bin."""

    sku_code: str
    lot_id: uuid.UUID
    lot_label: str
    bin_code: str
    quantity: int


def checked(shipments: Sequence[ShipmentToPick]) -> None:
    """The request's shape: 1 to 2,000 shipments, each named, with lines of at least one unit."""
    if not 1 <= len(shipments) <= MAX_SHIPMENTS:
        raise InvalidArgument.for_field("shipments", f"give 1 to {MAX_SHIPMENTS} shipments")
    seen: set[str] = set()
    for i, s in enumerate(shipments):
        if not s.shipment_id.strip():
            raise InvalidArgument.for_field(f"shipments[{i}].shipment_id", "is required")
        if s.shipment_id in seen:
            raise InvalidArgument.for_field(f"shipments[{i}].shipment_id", "is given twice")
        seen.add(s.shipment_id)
        if not s.order_id.strip():
            raise InvalidArgument.for_field(f"shipments[{i}].order_id", "is required")
        if not s.lines:
            raise InvalidArgument.for_field(f"shipments[{i}].lines", "list at least one line")
        for j, (sku, quantity) in enumerate(s.lines):
            if not sku.strip():
                raise InvalidArgument.for_field(f"shipments[{i}].lines[{j}].sku_code", "is required")
            if quantity < 1:
                raise InvalidArgument.for_field(f"shipments[{i}].lines[{j}].quantity", "must be at least 1")


async def kept_for(conn: AsyncConnection, shipment_ids: Sequence[str]) -> dict[str, list[KeptLot]]:
    """The lots already kept for these shipments (issued or not), by SKU then oldest lot."""
    rows = (
        await conn.execute(
            sa.select(pick_allocations, lots.c.label_id, lots.c.received_at)
            .join(lots, lots.c.lot_id == pick_allocations.c.lot_id)
            .where(any_of(pick_allocations.c.shipment_id, shipment_ids))
            .order_by(
                pick_allocations.c.shipment_id,
                pick_allocations.c.sku_code,
                lots.c.received_at,
                pick_allocations.c.lot_id,
                pick_allocations.c.bin_code,
            )
        )
    ).all()
    found: dict[str, list[KeptLot]] = defaultdict(list)
    for r in rows:
        found[r.shipment_id].append(KeptLot(r.sku_code, r.lot_id, r.label_id, r.bin_code, r.quantity))
    return dict(found)


async def allocate(
    conn: AsyncConnection, shipments: Sequence[ShipmentToPick]
) -> list[list[KeptLot] | DomainError]:
    """Keeps lots for each shipment, oldest first, in the caller's transaction; one answer per shipment in
    the given order: its lots, or why it was refused (no active reservation, more than reserved). A
    shipment allocated before gets its first allocation."""
    checked(shipments)
    # The orders' reservations are locked before their kept units are read: a concurrent allocation for
    # the same order (a second replica closing the same wave) waits here and then sees what this one kept.
    open_units = await reservations.open_units(conn, [s.order_id for s in shipments])
    kept = await _kept_of_orders(conn, sorted({s.order_id for s in shipments}))
    again = [s.shipment_id for s in shipments if s.shipment_id in kept.shipment_ids]
    answers: dict[str, list[KeptLot] | DomainError] = dict(await kept_for(conn, again)) if again else {}
    todo = [s for s in shipments if s.shipment_id not in answers]
    if todo:
        for shipment_id, answer in (await _allocate_new(conn, todo, open_units, kept.not_issued)).items():
            answers[shipment_id] = answer
    return [answers[s.shipment_id] for s in shipments]


async def _allocate_new(
    conn: AsyncConnection,
    shipments: Sequence[ShipmentToPick],
    open_units: dict[str, reservations.OpenUnits],
    kept_not_issued: dict[tuple[str, str], int],
) -> dict[str, list[KeptLot] | DomainError]:
    answers: dict[str, list[KeptLot] | DomainError] = {}
    # What each order may still have kept: reserved, minus issued, minus already kept and not issued.
    room = {order_id: dict(reservation.units) for order_id, reservation in open_units.items()}
    for (order_id, sku), units in kept_not_issued.items():
        if order_id in room:
            room[order_id][sku] = room[order_id].get(sku, 0) - units

    wanted: list[ShipmentToPick] = []
    for s in shipments:
        refusal = _refusal(s, room.get(s.order_id))
        if refusal is not None:
            answers[s.shipment_id] = refusal
            continue
        for sku, quantity in s.lines:
            room[s.order_id][sku] -= quantity
        wanted.append(s)

    warehouse_of = {order_id: reservation.warehouse_code for order_id, reservation in open_units.items()}
    keys = sorted({(sku, warehouse_of[s.order_id]) for s in wanted for sku, _ in s.lines})
    await ledger.lock_levels(conn, keys)
    # Each warehouse's lots of all these SKUs in one statement, locked SKU by SKU as the levels just were.
    found: dict[tuple[str, str], list[LotStock]] = {key: [] for key in keys}
    for warehouse in sorted({wh for _, wh in keys}):
        skus = [sku for sku, wh in keys if wh == warehouse]
        for lot in await ledger.lots_of(conn, skus, warehouse, lock=True, unkept=True):
            found[(lot.sku_code, warehouse)].append(lot)
    free = {key: _Shelf(fifo_order(stock)) for key, stock in found.items()}
    rows: dict[str, list[object]] = {f"{name}_array": [] for name in _ROW_COLUMNS}
    shipment_ids, sku_codes, lot_ids, bins, order_ids, warehouses, quantities = rows.values()
    for s in wanted:
        warehouse = warehouse_of[s.order_id]
        kept: list[KeptLot] = []
        for sku, quantity in sorted(s.lines):
            for lot, units in free[(sku, warehouse)].take(quantity):
                kept.append(KeptLot(sku, lot.lot_id, lot.label_id, lot.bin_code, units))
                shipment_ids.append(s.shipment_id)
                sku_codes.append(sku)
                lot_ids.append(lot.lot_id)
                bins.append(lot.bin_code)
                order_ids.append(s.order_id)
                warehouses.append(warehouse)
                quantities.append(units)
        answers[s.shipment_id] = kept
    if shipment_ids:
        await conn.execute(_INSERT, rows)
    return answers


def _refusal(s: ShipmentToPick, room: dict[str, int] | None) -> DomainError | None:
    if room is None:
        return FailedPrecondition.for_field(
            "order_id", f"order {s.order_id} has no active reservation", reason="RESERVATION_CLOSED"
        )
    asked: dict[str, int] = defaultdict(int)
    for sku, quantity in s.lines:
        asked[sku] += quantity
    for sku, quantity in sorted(asked.items()):
        if quantity > room.get(sku, 0):
            return FailedPrecondition.for_field(
                "lines",
                f"order {s.order_id} has {max(room.get(sku, 0), 0)} units of {sku} reserved and not yet "
                f"picked or issued, the shipment carries {quantity}",
                reason="MORE_THAN_RESERVED",
            )
    return None


class _Shelf:
    """One SKU's unkept units in one warehouse, oldest lot first, taken from the front as shipments are
    given theirs (so the next shipment gets what is left)."""

    def __init__(self, stock: list[LotStock]) -> None:
        self.stock = stock
        self.left = [lot.on_hand for lot in stock]
        self.first = 0  # lots before it are empty

    def take(self, quantity: int) -> list[tuple[LotStock, int]]:
        """``quantity`` units from the oldest lots, as (lot, units). Reserved units are always on hand,
        so running short means the books are broken."""
        taken: list[tuple[LotStock, int]] = []
        wanted = quantity
        while wanted and self.first < len(self.stock):
            units = min(wanted, self.left[self.first])
            if units > 0:
                taken.append((self.stock[self.first], units))
                self.left[self.first] -= units
                wanted -= units
            if self.left[self.first] <= 0:
                self.first += 1
        if wanted:
            raise FailedPrecondition.for_field(
                "shipments",
                f"only {quantity - wanted} of {quantity} reserved units lie in lots",
                reason="LOTS_SHORT",
            )
        return taken


@dataclass(frozen=True)
class _KeptOfOrders:
    shipment_ids: frozenset[str]  # the orders' shipments with lots kept (issued or not)
    not_issued: dict[tuple[str, str], int]  # units kept and not yet issued, by (order id, SKU)


async def _kept_of_orders(conn: AsyncConnection, order_ids: list[str]) -> _KeptOfOrders:
    """What is kept for these orders' shipments, in one read by order (a wave's first allocation finds
    nothing): which shipments have lots, and the units not yet issued per order and SKU."""
    shipment_ids: set[str] = set()
    not_issued: dict[tuple[str, str], int] = defaultdict(int)
    rows = await conn.execute(
        sa.select(
            pick_allocations.c.shipment_id,
            pick_allocations.c.order_id,
            pick_allocations.c.sku_code,
            pick_allocations.c.quantity,
            pick_allocations.c.issued,
        ).where(any_of(pick_allocations.c.order_id, order_ids))
    )
    for shipment_id, order_id, sku_code, quantity, issued in rows:
        shipment_ids.add(shipment_id)
        if not issued:
            not_issued[(order_id, sku_code)] += int(quantity)
    return _KeptOfOrders(frozenset(shipment_ids), dict(not_issued))


async def issue_shipment(
    conn: AsyncConnection, shipment_id: str, order_id: str, *, actor: str
) -> list[reservations.IssuedPick]:
    """Issues a dispatched shipment's stock from the lots kept for it (INV-11, LOG-5) and marks them issued.
    A shipment whose lots were issued already issues nothing; one with no kept lots (allocated nowhere)
    issues the order's remaining reservation oldest lot first."""
    rows = (
        await conn.execute(
            sa.select(pick_allocations)
            .where(pick_allocations.c.shipment_id == shipment_id)
            .order_by(pick_allocations.c.sku_code, pick_allocations.c.lot_id, pick_allocations.c.bin_code)
            .with_for_update()
        )
    ).all()
    if rows and all(r.issued for r in rows):
        return []
    kept: dict[str, list[Pick]] = defaultdict(list)
    wanted: dict[str, int] = defaultdict(int)
    for r in rows:
        kept[r.sku_code].append(Pick(r.lot_id, r.bin_code, r.quantity))
        wanted[r.sku_code] += r.quantity
    if rows:
        # Marked first: issuing the order's last units closes the reservation, which drops unissued lots.
        await conn.execute(
            pick_allocations.update().where(pick_allocations.c.shipment_id == shipment_id).values(issued=True)
        )
    _, issued = await reservations.issue(
        conn,
        order_id,
        sorted(wanted.items()) if rows else None,
        actor=actor,
        shipment_id=shipment_id,
        kept=dict(kept),
    )
    return issued
