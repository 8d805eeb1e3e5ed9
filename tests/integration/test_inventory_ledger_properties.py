"""Property tests of the stock ledger against a real PostgreSQL (INV-9, INV-10, INV-11, INV-14).

A Hypothesis state machine drives the store functions the inventory servicer calls — receipts, put-away,
reservations, issues, holds and their expiry — each in its own transaction, keeps a model of what the books
must say, and after every step compares the database with the model: balances equal the sums of the ledger's
movements (INV-14), available stock is never negative (INV-10), lots leave first in, first out (INV-11) and
holds and reservations are where the model says (INV-9). A second test runs a burst of operations
concurrently and checks that the ledger still adds up.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import Database
from libs.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from services.inventory.domain import places
from services.inventory.domain.lots import LotStock, label_id_for
from services.inventory.domain.reservations import (
    HoldRequest,
    HoldStatus,
    ReservationStatus,
    hold_request,
    reservation_request,
)
from services.inventory.domain.skus import Sku, SkuKind, new_sku
from services.inventory.domain.stock import Movement, MovementKind, StockLevel, put_away, stock_in
from services.inventory.store import catalogue, holds, ledger, reconciliation, reservations, tables

T = TypeVar("T")

WAREHOUSE = "MAIN"
BINS = ("A-01", "B-02")
UNKNOWN_BIN = "ZZ-99"
#: Refusals the rules may answer with; anything else escaping a store call is a failure.
REFUSALS = (FailedPrecondition, NotFound, InvalidArgument, AlreadyExists)
HOLD_PERIODS = (None, timedelta(hours=1), timedelta(days=2), timedelta(days=30))
SWEEP_AFTER = (timedelta(days=1), timedelta(days=8), timedelta(days=365))

# A FIFO position: lot received time, lot id, bin code (the order of domain.lots.fifo_order).
FifoKey = tuple[datetime, str, str]


@dataclass
class OrderModel:
    lines: dict[str, int]
    issued: dict[str, int]
    status: ReservationStatus = ReservationStatus.ACTIVE

    def open(self, sku_code: str) -> int:
        return self.lines.get(sku_code, 0) - self.issued.get(sku_code, 0)


@dataclass
class HoldModel:
    sku_code: str
    quantity: int
    expires_at: datetime
    status: HoldStatus = HoldStatus.ACTIVE


@dataclass
class Books:
    """What the database says about one machine's SKUs."""

    levels: dict[str, StockLevel]
    movement_sums: dict[str, tuple[int, int, int]]
    lot_units: dict[tuple[uuid.UUID, str], int]
    lot_ledger: dict[tuple[uuid.UUID, str], int]
    discrepancies: list[reconciliation.Discrepancy]
    orders: dict[str, tuple[ReservationStatus, dict[str, tuple[int, int]]]]
    holds: dict[uuid.UUID, tuple[str, int, HoldStatus]]


@dataclass
class Footprint:
    """What a refused operation must leave alone: row counts and the stock levels of one machine's SKUs."""

    movements: int
    lots: int
    reservations: int
    holds: int
    levels: list[tuple[str, int, int, int]]


def sku_of(tag: str, i: int) -> Sku:
    return new_sku(
        sku_code=f"PT{tag}-{i}",
        style_number=f"PT{tag}",
        colour=("red", "blue")[i],
        size="M",
        name=f"Property test item {i}",
        category="test",
        barcode=f"PT{tag}{i}",
        kind=SkuKind.SELLABLE,
    )


class LedgerMachine(RuleBasedStateMachine):
    """Stock operations in random order on two fresh SKUs; after every step the books must equal the model
    and their own ledger (INV-9, INV-10, INV-11, INV-14). Bound to a loop and database by a subclass."""

    loop: asyncio.AbstractEventLoop
    database: Database

    lots = Bundle("lots")
    orders = Bundle("orders")
    hold_ids = Bundle("hold_ids")

    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex[:10].upper()
        self.actor = f"keeper-{tag}"
        self.sku_codes = [f"PT{tag}-0", f"PT{tag}-1"]
        self.order_seq = 0
        self.lot_units: dict[tuple[uuid.UUID, str], int] = {}
        self.lot_sku: dict[uuid.UUID, str] = {}
        self.lot_received: dict[uuid.UUID, datetime] = {}
        self.order_book: dict[str, OrderModel] = {}
        self.hold_book: dict[uuid.UUID, HoldModel] = {}
        # Set by an issue, checked (and cleared) by the FIFO invariant: SKU -> positions it took from.
        self.last_issue: dict[str, list[FifoKey]] | None = None

        async def register(conn: AsyncConnection) -> None:
            for i in range(2):
                await catalogue.add_sku(conn, sku_of(tag, i), actor=self.actor)

        self._await(self._in_transaction(register))

    # --- plumbing ---------------------------------------------------------------------------------

    def _await(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def _in_transaction(self, operation: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.database.transaction() as conn:
            return await operation(conn)

    def _attempt(
        self,
        expected: type[DomainError] | None,
        operation: Callable[[AsyncConnection], Awaitable[T]],
    ) -> T | None:
        """Runs ``operation`` in one transaction. ``expected`` is the refusal the model predicts (None for
        success); a refusal must leave the database as it was."""
        before = self._await(self._footprint())
        try:
            result = self._await(self._in_transaction(operation))
        except REFUSALS as exc:
            assert expected is not None, f"refused although the model allows it: {exc!r}"
            assert isinstance(exc, expected), f"expected {expected.__name__}, got {exc!r}"
            assert self._await(self._footprint()) == before, "a refused operation changed the books"
            event(f"refused {exc.reason}")
            return None
        assert expected is None, f"accepted although the model expects {expected.__name__}"
        return result

    async def _footprint(self) -> Footprint:
        m, lt, r, h = tables.stock_movements, tables.lots, tables.reservations, tables.holds
        async with self.database.connection() as conn:

            async def count(query: sa.Select[Any]) -> int:
                return int((await conn.execute(query)).scalar_one())

            levels = (
                await conn.execute(
                    sa.select(
                        tables.stock_levels.c.sku_code,
                        tables.stock_levels.c.on_hand,
                        tables.stock_levels.c.reserved,
                        tables.stock_levels.c.held,
                    )
                    .where(tables.stock_levels.c.sku_code.in_(self.sku_codes))
                    .order_by(tables.stock_levels.c.sku_code)
                )
            ).all()
            return Footprint(
                movements=await count(
                    sa.select(sa.func.count()).where(m.c.sku_code.in_(self.sku_codes)).select_from(m)
                ),
                lots=await count(
                    sa.select(sa.func.count()).where(lt.c.sku_code.in_(self.sku_codes)).select_from(lt)
                ),
                reservations=await count(
                    sa.select(sa.func.count()).where(r.c.created_by == self.actor).select_from(r)
                ),
                holds=await count(
                    sa.select(sa.func.count()).where(h.c.created_by == self.actor).select_from(h)
                ),
                levels=[(x.sku_code, x.on_hand, x.reserved, x.held) for x in levels],
            )

    async def _books(self) -> Books:
        m = tables.stock_movements
        async with self.database.connection() as conn:
            levels = {sku: await ledger.level_of(conn, sku, WAREHOUSE) for sku in self.sku_codes}
            sums = {
                row.sku_code: (int(row.on_hand), int(row.reserved), int(row.held))
                for row in (
                    await conn.execute(
                        sa.select(
                            m.c.sku_code,
                            sa.func.sum(m.c.on_hand_delta).label("on_hand"),
                            sa.func.sum(m.c.reserved_delta).label("reserved"),
                            sa.func.sum(m.c.held_delta).label("held"),
                        )
                        .where(m.c.sku_code.in_(self.sku_codes), m.c.warehouse_code == WAREHOUSE)
                        .group_by(m.c.sku_code)
                    )
                ).all()
            }
            lot_units: dict[tuple[uuid.UUID, str], int] = {}
            for sku in self.sku_codes:
                for lot in await ledger.lots_of(conn, sku, WAREHOUSE):
                    lot_units[(lot.lot_id, lot.bin_code)] = lot.on_hand
            lot_ledger = {
                (row.lot_id, row.bin_code): int(row.on_hand)
                for row in (
                    await conn.execute(
                        sa.select(m.c.lot_id, m.c.bin_code, sa.func.sum(m.c.on_hand_delta).label("on_hand"))
                        .where(
                            m.c.sku_code.in_(self.sku_codes),
                            m.c.warehouse_code == WAREHOUSE,
                            m.c.lot_id.is_not(None),
                        )
                        .group_by(m.c.lot_id, m.c.bin_code)
                        .having(sa.func.sum(m.c.on_hand_delta) != 0)
                    )
                ).all()
            }
            orders = {}
            for order_id in self.order_book:
                found = await reservations.require(conn, order_id)
                orders[order_id] = (
                    found.status,
                    {line.sku_code: (line.quantity, line.issued) for line in found.lines},
                )
            hold_rows = (
                await conn.execute(
                    sa.select(
                        tables.holds.c.hold_id,
                        tables.holds.c.sku_code,
                        tables.holds.c.quantity,
                        tables.holds.c.status,
                    ).where(tables.holds.c.created_by == self.actor)
                )
            ).all()
            return Books(
                levels=levels,
                movement_sums=sums,
                lot_units=lot_units,
                lot_ledger=lot_ledger,
                discrepancies=await reconciliation.discrepancies(conn, sku_codes=self.sku_codes),
                orders=orders,
                holds={r.hold_id: (r.sku_code, r.quantity, HoldStatus(r.status)) for r in hold_rows},
            )

    # --- the model --------------------------------------------------------------------------------

    def on_hand(self, sku_code: str) -> int:
        return sum(n for (lot, _), n in self.lot_units.items() if self.lot_sku[lot] == sku_code)

    def reserved(self, sku_code: str) -> int:
        return sum(o.open(sku_code) for o in self.order_book.values() if o.status is ReservationStatus.ACTIVE)

    def held(self, sku_code: str) -> int:
        return sum(
            h.quantity
            for h in self.hold_book.values()
            if h.sku_code == sku_code and h.status is HoldStatus.ACTIVE
        )

    def available(self, sku_code: str) -> int:
        return self.on_hand(sku_code) - self.reserved(sku_code) - self.held(sku_code)

    def fifo_key(self, lot_id: uuid.UUID, bin_code: str) -> FifoKey:
        return (self.lot_received[lot_id], str(lot_id), bin_code)

    def fifo_picks(self, sku_code: str, quantity: int) -> list[tuple[uuid.UUID, str, int]]:
        """The (lot, bin, units) an issue of ``quantity`` must take: oldest lot first, bins in code order."""
        positions = sorted(
            (self.fifo_key(lot, bin_code), lot, bin_code, units)
            for (lot, bin_code), units in self.lot_units.items()
            if self.lot_sku[lot] == sku_code and units > 0
        )
        picks: list[tuple[uuid.UUID, str, int]] = []
        left = quantity
        for _, lot, bin_code, units in positions:
            if left == 0:
                break
            take = min(left, units)
            picks.append((lot, bin_code, take))
            left -= take
        assert left == 0, "the model reserved more than is on hand"
        return picks

    def move_lot(self, lot_id: uuid.UUID, bin_code: str, delta: int) -> None:
        key = (lot_id, bin_code)
        self.lot_units[key] = self.lot_units.get(key, 0) + delta
        if self.lot_units[key] == 0:
            del self.lot_units[key]

    # --- rules --------------------------------------------------------------------------------------

    @initialize(target=lots, quantities=st.tuples(st.integers(1, 30), st.integers(1, 30)))
    def opening_stock(self, quantities: tuple[int, int]) -> object:
        """Both SKUs start with a lot in the receiving area, so that reservations and holds have stock."""
        return multiple(*(self.receive(sku, quantity, "") for sku, quantity in enumerate(quantities)))

    @rule(
        target=lots,
        sku=st.integers(0, 1),
        quantity=st.integers(1, 20),
        bin_code=st.sampled_from(["", *BINS, "", *BINS, UNKNOWN_BIN]),
    )
    def receive(self, sku: int, quantity: int, bin_code: str) -> object:
        """A receipt books a new lot into the receiving area or a bin (INV-3, INV-6, INV-14)."""
        sku_code = self.sku_codes[sku]
        lot_id = uuid.uuid4()
        receipt = stock_in(
            sku_code=sku_code, warehouse_code=WAREHOUSE, quantity=quantity, note="", bin_code=bin_code
        )

        async def perform(conn: AsyncConnection) -> datetime:
            # As InventoryServicer.ReceiveStock does.
            await catalogue.get_sku(conn, receipt.sku_code)
            await catalogue.warehouse_sellable(conn, receipt.warehouse_code)
            if receipt.bin_code:
                await catalogue.require_bin(conn, receipt.warehouse_code, receipt.bin_code)
            await ledger.new_lot(
                conn,
                lot_id=lot_id,
                label_id=label_id_for(receipt.sku_code, lot_id),
                sku_code=receipt.sku_code,
                quantity=receipt.quantity,
                document_type="stock_in",
                document_id=f"in-{lot_id}",
            )
            await ledger.post(
                conn,
                [
                    Movement(
                        kind=MovementKind.RECEIPT,
                        sku_code=receipt.sku_code,
                        warehouse_code=receipt.warehouse_code,
                        lot_id=lot_id,
                        bin_code=receipt.bin_code,
                        on_hand_delta=receipt.quantity,
                        document_type="stock_in",
                        document_id=f"in-{lot_id}",
                    )
                ],
                actor=self.actor,
            )
            [lot] = [x for x in await ledger.lots_of(conn, sku_code, WAREHOUSE) if x.lot_id == lot_id]
            assert (lot.bin_code, lot.on_hand) == (bin_code, quantity)
            return lot.received_at

        received_at = self._attempt(NotFound if bin_code == UNKNOWN_BIN else None, perform)
        if received_at is None:
            return multiple()
        self.lot_sku[lot_id] = sku_code
        self.lot_received[lot_id] = received_at
        self.move_lot(lot_id, bin_code, quantity)
        event("received")
        return lot_id

    @rule(lot_id=lots, data=st.data())
    def put_away(self, lot_id: uuid.UUID, data: st.DataObject) -> None:
        """Put-away moves units of a lot between bins with two movements; on-hand is unchanged (INV-6)."""
        holding = sorted(b for (lot, b), n in self.lot_units.items() if lot == lot_id and n > 0)
        from_bin = data.draw(st.sampled_from(holding or ["", *BINS]), label="from_bin")
        # Mostly another known bin; now and then an unknown one, the same one, or the receiving area.
        other_bins = [b for b in BINS if b != from_bin]
        to_bin = data.draw(
            st.sampled_from([*other_bins, *other_bins, *other_bins, UNKNOWN_BIN, from_bin, ""]),
            label="to_bin",
        )
        units = self.lot_units.get((lot_id, from_bin), 0)
        quantity = data.draw(st.integers(1, units + 2), label="quantity")
        expected: type[DomainError] | None = None
        if from_bin == to_bin or not to_bin:
            expected = InvalidArgument
        elif to_bin == UNKNOWN_BIN:
            expected = NotFound
        elif quantity > units:
            expected = FailedPrecondition

        async def perform(conn: AsyncConnection) -> bool:
            # As InventoryServicer.PutAway does.
            move = put_away(
                warehouse_code=WAREHOUSE, from_bin_code=from_bin, to_bin_code=to_bin, quantity=quantity
            )
            sku_code = await catalogue.sku_of_lot(conn, lot_id)
            await catalogue.require_bin(conn, move.warehouse_code, move.to_bin_code, field="to_bin_code")
            common: dict[str, Any] = {
                "kind": MovementKind.PUT_AWAY,
                "sku_code": sku_code,
                "warehouse_code": move.warehouse_code,
                "lot_id": lot_id,
                "document_type": "put_away",
                "document_id": f"pa-{uuid.uuid4()}",
            }
            await ledger.post(
                conn,
                [
                    Movement(bin_code=move.from_bin_code, on_hand_delta=-move.quantity, **common),
                    Movement(bin_code=move.to_bin_code, on_hand_delta=move.quantity, **common),
                ],
                actor=self.actor,
            )
            return True

        if self._attempt(expected, perform) is None:
            return
        self.move_lot(lot_id, from_bin, -quantity)
        self.move_lot(lot_id, to_bin, quantity)
        event("put away")

    @rule(
        target=orders,
        lines=st.lists(st.tuples(st.integers(0, 1), st.integers(1, 15)), min_size=1, max_size=2),
    )
    def reserve(self, lines: list[tuple[int, int]]) -> object:
        """A reservation takes every line or none, and never more than is available (INV-10)."""
        self.order_seq += 1
        order_id = f"order-{self.actor}-{self.order_seq}"
        request = reservation_request(order_id, WAREHOUSE, [(self.sku_codes[i], q) for i, q in lines])
        wanted = {line.sku_code: line.quantity for line in request.lines}
        fits = all(q <= self.available(sku) for sku, q in wanted.items())

        async def perform(conn: AsyncConnection) -> tuple[reservations.Reservation, bool]:
            return await reservations.reserve(conn, request, actor=self.actor)

        result = self._attempt(None if fits else FailedPrecondition, perform)
        if result is None:
            return multiple()
        reservation, created = result
        assert created
        assert reservation.status is ReservationStatus.ACTIVE
        assert {x.sku_code: (x.quantity, x.issued) for x in reservation.lines} == {
            sku: (q, 0) for sku, q in wanted.items()
        }
        self.order_book[order_id] = OrderModel(dict(wanted), dict.fromkeys(wanted, 0))
        event("reserved")
        return order_id

    @rule(order_id=orders, same=st.booleans())
    def reserve_again(self, order_id: str, same: bool) -> None:
        """Reserving an order again returns its reservation and books nothing; other lines are refused
        (INV-10)."""
        order = self.order_book[order_id]
        lines = sorted(order.lines.items())
        if not same:
            lines[0] = (lines[0][0], lines[0][1] + 1)
        request = reservation_request(order_id, WAREHOUSE, lines)

        async def perform(conn: AsyncConnection) -> tuple[reservations.Reservation, bool]:
            return await reservations.reserve(conn, request, actor=self.actor)

        result = self._attempt(None if same else AlreadyExists, perform)
        if result is not None:
            reservation, created = result
            assert not created
            assert reservation.status is order.status

    @rule(order_id=orders)
    def release(self, order_id: str) -> None:
        """Releasing returns what is reserved and not issued; releasing a closed reservation changes
        nothing (INV-10)."""
        order = self.order_book[order_id]

        async def perform(conn: AsyncConnection) -> tuple[reservations.Reservation, bool]:
            return await reservations.release(conn, order_id, actor=self.actor, reason="property test")

        result = self._attempt(None, perform)
        assert result is not None
        reservation, changed = result
        assert changed == (order.status is ReservationStatus.ACTIVE)
        if changed:
            order.status = ReservationStatus.RELEASED
            event("released")
        assert reservation.status is order.status

    @rule(order_id=orders, whole=st.booleans(), data=st.data())
    def issue(self, order_id: str, whole: bool, data: st.DataObject) -> None:
        """Issuing any order made so far; a released or issued one is refused (INV-11)."""
        self._issue(order_id, whole, data)

    @precondition(lambda self: bool(self.active_orders()))
    @rule(whole=st.booleans(), data=st.data())
    def issue_active(self, whole: bool, data: st.DataObject) -> None:
        """Issuing an order that still has units reserved (INV-11)."""
        self._issue(data.draw(st.sampled_from(self.active_orders()), label="order_id"), whole, data)

    def active_orders(self) -> list[str]:
        return sorted(k for k, o in self.order_book.items() if o.status is ReservationStatus.ACTIVE)

    def _issue(self, order_id: str, whole: bool, data: st.DataObject) -> None:
        """Issue takes reserved units out of stock oldest lot first (INV-11); on-hand and reserved fall
        together, so available is unchanged (INV-10). ``whole`` issues all that is still reserved."""
        order = self.order_book[order_id]
        wanted: list[tuple[str, int]] | None = None
        expected: type[DomainError] | None = None
        if not whole:
            # Mostly a SKU of the order; now and then one it does not reserve.
            sku_code = data.draw(
                st.sampled_from([*sorted(order.lines), *sorted(order.lines), *self.sku_codes]),
                label="sku_code",
            )
            quantity = data.draw(st.integers(1, order.open(sku_code) + 1), label="quantity")
            wanted = [(sku_code, quantity)]
            if sku_code not in order.lines:
                expected = InvalidArgument
            elif quantity > order.open(sku_code):
                expected = FailedPrecondition
        if order.status is not ReservationStatus.ACTIVE:
            expected = FailedPrecondition
        shipment_id = f"ship-{uuid.uuid4()}"

        async def perform(
            conn: AsyncConnection,
        ) -> tuple[reservations.Reservation, list[reservations.IssuedPick]]:
            return await reservations.issue(conn, order_id, wanted, actor=self.actor, shipment_id=shipment_id)

        result = self._attempt(expected, perform)
        if result is None:
            return
        reservation, issued = result
        to_issue = (
            sorted(wanted)
            if wanted is not None
            else [(sku, order.open(sku)) for sku in sorted(order.lines) if order.open(sku) > 0]
        )
        expected_picks: list[tuple[str, uuid.UUID, str, int]] = []
        self.last_issue = {}
        for sku_code, quantity in to_issue:
            for lot_id, bin_code, take in self.fifo_picks(sku_code, quantity):
                expected_picks.append((sku_code, lot_id, bin_code, take))
                self.last_issue.setdefault(sku_code, []).append(self.fifo_key(lot_id, bin_code))
                self.move_lot(lot_id, bin_code, -take)
            order.issued[sku_code] += quantity
        assert [(p.sku_code, p.pick.lot_id, p.pick.bin_code, p.pick.quantity) for p in issued] == (
            expected_picks
        ), "issue did not take the oldest lots first (INV-11)"
        if all(order.open(sku) == 0 for sku in order.lines):
            order.status = ReservationStatus.ISSUED
        assert reservation.status is order.status
        # INV-11: the units left against the shipment document, as issue movements.
        assert self._await(self._document_movements("shipment", shipment_id)) == [
            (MovementKind.ISSUE.value, sku, -take, -take) for sku, _, _, take in expected_picks
        ]
        event("issued whole" if whole else "issued part")

    async def _document_movements(
        self, document_type: str, document_id: str
    ) -> list[tuple[str, str, int, int]]:
        m = tables.stock_movements
        async with self.database.connection() as conn:
            rows = (
                await conn.execute(
                    sa.select(m.c.kind, m.c.sku_code, m.c.on_hand_delta, m.c.reserved_delta)
                    .where(m.c.document_type == document_type, m.c.document_id == document_id)
                    .order_by(m.c.movement_id)
                )
            ).all()
        return [(r.kind, r.sku_code, int(r.on_hand_delta), int(r.reserved_delta)) for r in rows]

    @rule(
        target=hold_ids,
        sku=st.integers(0, 1),
        quantity=st.integers(1, 15),
        period=st.sampled_from(HOLD_PERIODS),
    )
    def place_hold(self, sku: int, quantity: int, period: timedelta | None) -> object:
        """A hold keeps units back for a customer out of available stock, 7 days unless stated (INV-9,
        INV-10)."""
        sku_code = self.sku_codes[sku]
        now = datetime.now(UTC)
        request = hold_request(
            sku_code=sku_code,
            warehouse_code=WAREHOUSE,
            quantity=quantity,
            customer_ref="customer-1",
            expires_at=None if period is None else now + period,
            now=now,
        )
        assert request.expires_at == now + (period or timedelta(days=7))

        async def perform(conn: AsyncConnection) -> holds.Hold:
            return await holds.place(conn, request, actor=self.actor)

        hold = self._attempt(None if quantity <= self.available(sku_code) else FailedPrecondition, perform)
        if hold is None:
            return multiple()
        assert (hold.sku_code, hold.quantity, hold.status) == (sku_code, quantity, HoldStatus.ACTIVE)
        assert hold.expires_at == request.expires_at
        self.hold_book[hold.hold_id] = HoldModel(sku_code, quantity, hold.expires_at)
        event("held")
        return hold.hold_id

    @rule(hold_id=hold_ids)
    def release_hold(self, hold_id: uuid.UUID) -> None:
        """Releasing a hold returns its units to sale; a closed hold stays as it is (INV-9)."""
        model = self.hold_book[hold_id]

        async def perform(conn: AsyncConnection) -> holds.Hold:
            return await holds.release(conn, hold_id, actor=self.actor)

        hold = self._attempt(None, perform)
        assert hold is not None
        if model.status is HoldStatus.ACTIVE:
            model.status = HoldStatus.RELEASED
            event("hold released")
        assert hold.status is model.status

    @precondition(lambda self: any(h.status is HoldStatus.ACTIVE for h in self.hold_book.values()))
    @rule(after=st.sampled_from(SWEEP_AFTER))
    def expire_holds(self, after: timedelta) -> None:
        """The sweeper expires every hold past its time and returns its units (INV-9). It may expire holds
        of other machines' SKUs too; only ours are checked."""
        sweep_at = datetime.now(UTC) + after

        async def perform(conn: AsyncConnection) -> list[holds.Hold]:
            expired: list[holds.Hold] = []
            while batch := await holds.expire_due(conn, now=sweep_at):
                expired.extend(batch)
            return expired

        expired = self._attempt(None, perform)
        assert expired is not None
        due = {
            hold_id
            for hold_id, h in self.hold_book.items()
            if h.status is HoldStatus.ACTIVE and h.expires_at <= sweep_at
        }
        assert {h.hold_id for h in expired if h.sku_code in self.sku_codes} == due
        for hold_id in due:
            self.hold_book[hold_id].status = HoldStatus.EXPIRED
        event("expired no hold" if not due else "expired holds")

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def books_match_ledger_and_model(self) -> None:
        """INV-14: on-hand, reserved and held equal the sums of the ledger's movements and the model; lot
        stock adds up to on-hand; the reconciliation finds no discrepancy. INV-10: available = on hand -
        reserved - held is never negative. INV-9: holds and reservations are in the model's state."""
        books = self._await(self._books())
        assert books.discrepancies == []
        for sku in self.sku_codes:
            level = books.levels[sku]
            balances = (level.on_hand, level.reserved, level.held)
            assert balances == books.movement_sums.get(sku, (0, 0, 0)), f"{sku}: balances are not the ledger"
            assert balances == (self.on_hand(sku), self.reserved(sku), self.held(sku)), sku
            assert level.on_hand - level.reserved - level.held >= 0
            assert level.available == self.available(sku) >= 0
            in_lots = sum(n for (lot, _), n in books.lot_units.items() if self.lot_sku.get(lot) == sku)
            assert in_lots == level.on_hand, f"{sku}: lot stock does not add up to on-hand"
        assert books.lot_units == self.lot_units
        assert books.lot_ledger == books.lot_units, "lot and bin stock is not the sum of its movements"
        assert books.orders == {
            order_id: (o.status, {sku: (q, o.issued[sku]) for sku, q in o.lines.items()})
            for order_id, o in self.order_book.items()
        }
        assert books.holds == {
            hold_id: (h.sku_code, h.quantity, h.status) for hold_id, h in self.hold_book.items()
        }

    @invariant()
    def last_issue_took_oldest_lots_first(self) -> None:
        """INV-11: after an issue no position older than the newest one it took from still holds units;
        positions are ordered by lot receipt time, then lot, then bin code."""
        if self.last_issue is None:
            return
        taken, self.last_issue = self.last_issue, None
        for sku_code, positions in taken.items():
            newest_taken = max(positions)
            still_held = [
                self.fifo_key(lot.lot_id, lot.bin_code) for lot in self._await(self._lots_of(sku_code))
            ]
            older = [p for p in still_held if p < newest_taken]
            assert older == [], f"{sku_code}: older lots {older} kept units while {newest_taken} was issued"

    async def _lots_of(self, sku_code: str) -> list[LotStock]:
        async with self.database.connection() as conn:
            return await ledger.lots_of(conn, sku_code, WAREHOUSE)


async def _create_bins(database: Database) -> None:
    async with database.transaction() as conn:
        for code in BINS:
            await catalogue.add_bin(conn, places.new_bin(WAREHOUSE, code, "property test bin"))


def test_ledger_balances_hold_after_every_step_inv_10_inv_14(fresh_database):
    """INV-10, INV-14 (and INV-9, INV-11): random receipts, put-aways, reservations, issues, holds and
    expiries; after every step on-hand equals the sum of movements and available is never negative."""
    loop = asyncio.new_event_loop()
    database = Database(fresh_database("inventory"))
    try:
        loop.run_until_complete(_create_bins(database))

        class OnThisDatabase(LedgerMachine):
            pass

        OnThisDatabase.loop = loop
        OnThisDatabase.database = database
        run_state_machine_as_test(
            OnThisDatabase,
            settings=settings(
                max_examples=25,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            ),
        )
    finally:
        loop.run_until_complete(database.dispose())
        loop.close()


# --- concurrency ------------------------------------------------------------------------------------


async def _seed_stock(conn: AsyncConnection, sku_code: str, quantities: list[int], actor: str) -> None:
    for quantity in quantities:
        lot_id = uuid.uuid4()
        await ledger.new_lot(
            conn,
            lot_id=lot_id,
            label_id=label_id_for(sku_code, lot_id),
            sku_code=sku_code,
            quantity=quantity,
            document_type="stock_in",
            document_id=f"in-{lot_id}",
        )
        await ledger.post(
            conn,
            [
                Movement(
                    kind=MovementKind.RECEIPT,
                    sku_code=sku_code,
                    warehouse_code=WAREHOUSE,
                    lot_id=lot_id,
                    on_hand_delta=quantity,
                    document_type="stock_in",
                    document_id=f"in-{lot_id}",
                )
            ],
            actor=actor,
        )


def _hold(sku_code: str, quantity: int) -> HoldRequest:
    return hold_request(
        sku_code=sku_code,
        warehouse_code=WAREHOUSE,
        quantity=quantity,
        customer_ref="customer-1",
        expires_at=None,
        now=datetime.now(UTC),
    )


async def test_concurrent_reserves_holds_and_releases_keep_the_ledger_whole_inv_10_inv_14(inventory_db):
    """INV-10, INV-14: 30 reservations, holds, releases and issues over two SKUs from six concurrent workers,
    each in its own transaction, leave every balance equal to the ledger and available never below zero;
    nothing deadlocks (a deadlock would surface as Aborted and fail the test)."""
    db = inventory_db
    tag = uuid.uuid4().hex[:10].upper()
    actor = f"keeper-{tag}"
    sku_codes = [f"PT{tag}-0", f"PT{tag}-1"]
    # Little stock for the demand, so that workers race for the last units.
    received = 30
    shared_orders = [f"order-{tag}-seed-{i}" for i in range(6)]
    shared_holds: list[uuid.UUID] = []

    async with db.transaction() as conn:
        for i, sku_code in enumerate(sku_codes):
            await catalogue.add_sku(conn, sku_of(tag, i), actor=actor)
            await _seed_stock(conn, sku_code, [received // 2, received // 2], actor)
    for i, order_id in enumerate(shared_orders):
        lines = [(sku_codes[0], 3), (sku_codes[1], 2)] if i % 2 else [(sku_codes[i % 4 // 2], 4)]
        async with db.transaction() as conn:
            await reservations.reserve(conn, reservation_request(order_id, WAREHOUSE, lines), actor=actor)
    for i in range(4):
        async with db.transaction() as conn:
            hold = await holds.place(conn, _hold(sku_codes[i % 2], 3), actor=actor)
        shared_holds.append(hold.hold_id)

    rng = random.Random(20240611)
    kinds = [
        "reserve",
        "reserve",
        "reserve",
        "hold",
        "hold",
        "release",
        "release_hold",
        "issue",
        "release_own",
    ]
    plans = [
        [
            (
                rng.choice(kinds),
                [(rng.choice(sku_codes), rng.randint(1, 8)) for _ in range(rng.randint(1, 2))],
            )
            for _ in range(5)
        ]
        for _ in range(6)
    ]
    start = asyncio.Event()

    async def worker(w: int, plan: list[tuple[str, list[tuple[str, int]]]]) -> list[str]:
        own: list[str] = []
        outcomes: list[str] = []
        await start.wait()
        for step, (kind, lines) in enumerate(plan):
            pick = (w + step) % len(shared_orders)
            try:
                async with db.transaction() as conn:
                    if kind == "reserve":
                        order_id = f"order-{tag}-w{w}-{step}"
                        request = reservation_request(order_id, WAREHOUSE, lines)
                        await reservations.reserve(conn, request, actor=actor)
                        own.append(order_id)
                    elif kind == "hold":
                        await holds.place(conn, _hold(*lines[0]), actor=actor)
                    elif kind == "release":
                        await reservations.release(conn, shared_orders[pick], actor=actor, reason="race")
                    elif kind == "release_hold":
                        await holds.release(conn, shared_holds[pick % len(shared_holds)], actor=actor)
                    elif kind == "issue":
                        await reservations.issue(
                            conn, shared_orders[pick], None, actor=actor, shipment_id=f"ship-{w}-{step}"
                        )
                    elif own:
                        await reservations.release(conn, own.pop(), actor=actor, reason="changed mind")
                outcomes.append(f"{kind}: done")
            except FailedPrecondition as exc:
                # Out of stock, or an order another worker already released or issued.
                outcomes.append(f"{kind}: {exc.reason}")
        return outcomes

    tasks = [asyncio.create_task(worker(w, plan)) for w, plan in enumerate(plans)]
    start.set()
    results = await asyncio.gather(*tasks)
    assert sum(len(r) for r in results) == 30
    assert any(o.endswith("done") for r in results for o in r)

    r, rl, h = tables.reservations, tables.reservation_lines, tables.holds
    async with db.connection() as conn:
        assert await reconciliation.discrepancies(conn, sku_codes=sku_codes) == []
        for sku_code in sku_codes:
            level = await ledger.level_of(conn, sku_code, WAREHOUSE)
            open_reserved = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(rl.c.quantity - rl.c.issued), 0))
                    .select_from(rl.join(r, r.c.order_id == rl.c.order_id))
                    .where(rl.c.sku_code == sku_code, r.c.status == ReservationStatus.ACTIVE.value)
                )
            ).scalar_one()
            issued = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(rl.c.issued), 0)).where(rl.c.sku_code == sku_code)
                )
            ).scalar_one()
            active_held = (
                await conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(h.c.quantity), 0)).where(
                        h.c.sku_code == sku_code, h.c.status == HoldStatus.ACTIVE.value
                    )
                )
            ).scalar_one()
            in_lots = sum(lot.on_hand for lot in await ledger.lots_of(conn, sku_code, WAREHOUSE))
            assert level.on_hand - level.reserved - level.held >= 0, sku_code
            assert level.available >= 0, sku_code
            assert (level.on_hand, level.reserved, level.held) == (
                received - issued,
                open_reserved,
                active_held,
            ), sku_code
            assert in_lots == level.on_hand, sku_code


# --- reconciliation ---------------------------------------------------------------------------------


async def test_reconciliation_reports_lot_stock_without_movements_under_its_sku_inv_14(inventory_db):
    """INV-14: units lying in a lot and bin with no movement behind them are a discrepancy of the lot's SKU,
    also when only that SKU is checked."""
    tag = uuid.uuid4().hex[:10].upper()
    sku_code = f"PT{tag}-0"
    lot_id = uuid.uuid4()
    async with inventory_db.transaction() as conn:
        await catalogue.add_sku(conn, sku_of(tag, 0), actor="keeper-1")
        await ledger.new_lot(
            conn,
            lot_id=lot_id,
            label_id=label_id_for(sku_code, lot_id),
            sku_code=sku_code,
            quantity=3,
            document_type="stock_in",
            document_id="in-1",
        )
        # Books changed behind the ledger's back: three units on the shelf, no receipt movement.
        await conn.execute(
            tables.lot_stock.insert().values(lot_id=lot_id, warehouse_code=WAREHOUSE, bin_code="", on_hand=3)
        )
    async with inventory_db.connection() as conn:
        found = await reconciliation.discrepancies(conn, sku_codes=[sku_code])
    assert any(d.sku_code == sku_code and d.lot_id == str(lot_id) for d in found), found
