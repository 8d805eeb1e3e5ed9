"""Reservations for orders: all-or-nothing reserve, release, and FIFO issue at dispatch (INV-10, INV-11)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.bulk import any_of, array_type, columns, insert_rows
from libs.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from libs.upsert import insert
from services.inventory.domain.lots import Pick, pick_fifo
from services.inventory.domain.reservations import (
    Line,
    ReservationRequest,
    ReservationStatus,
    serve_in_turn,
)
from services.inventory.domain.stock import Movement, MovementKind, StockLevel
from services.inventory.store import catalogue, ledger
from services.inventory.store.tables import (
    pick_allocations,
    reservation_lines,
    reservations,
    stock_levels,
    warehouses,
)

DOCUMENT = "order"


@dataclass(frozen=True)
class ReservedLine:
    sku_code: str
    quantity: int
    issued: int


@dataclass(frozen=True)
class Reservation:
    order_id: str
    warehouse_code: str
    status: ReservationStatus
    lines: tuple[ReservedLine, ...]
    created_at: datetime
    shop_code: str = ""


@dataclass(frozen=True)
class IssuedPick:
    sku_code: str
    pick: Pick


async def get(conn: AsyncConnection, order_id: str, *, lock: bool = False) -> Reservation | None:
    query = sa.select(reservations).where(reservations.c.order_id == order_id)
    if lock:
        query = query.with_for_update()
    head = (await conn.execute(query)).first()
    if head is None:
        return None
    rows = (
        await conn.execute(
            sa.select(reservation_lines)
            .where(reservation_lines.c.order_id == order_id)
            .order_by(reservation_lines.c.sku_code)
        )
    ).all()
    return Reservation(
        order_id=head.order_id,
        warehouse_code=head.warehouse_code,
        status=ReservationStatus(head.status),
        lines=tuple(ReservedLine(r.sku_code, r.quantity, r.issued) for r in rows),
        created_at=head.created_at,
        shop_code=head.shop_code,
    )


_TEXTS = array_type(sa.Text)


async def many(
    conn: AsyncConnection, order_ids: Sequence[str], *, lock: bool = False
) -> dict[str, Reservation]:
    """The reservations of these orders, by order id, in two statements; ``lock`` locks them in order id
    order, the one order every locker of several reservations uses. The ids travel as one array parameter
    (``= ANY``): a wave's thousand orders as an expanding IN would be a statement compiled and planned
    anew for every count."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    # Fields by position, not by name: a name costs about a microsecond a field, thousands of rows here.
    query = (
        sa.select(
            reservations.c.order_id,
            reservations.c.warehouse_code,
            reservations.c.status,
            reservations.c.created_at,
            reservations.c.shop_code,
        )
        .where(any_of(reservations.c.order_id, ids))
        .order_by(reservations.c.order_id)
    )
    if lock:
        query = query.with_for_update()
    heads = (await conn.execute(query)).all()
    lines: dict[str, list[ReservedLine]] = {}
    found = [h[0] for h in heads]
    for order_id, sku_code, quantity, issued in await conn.execute(
        sa.select(
            reservation_lines.c.order_id,
            reservation_lines.c.sku_code,
            reservation_lines.c.quantity,
            reservation_lines.c.issued,
        )
        .where(any_of(reservation_lines.c.order_id, found))
        .order_by(reservation_lines.c.order_id, reservation_lines.c.sku_code)
    ):
        lines.setdefault(order_id, []).append(ReservedLine(sku_code, quantity, issued))
    return {
        order_id: Reservation(
            order_id=order_id,
            warehouse_code=warehouse_code,
            status=ReservationStatus(status),
            lines=tuple(lines.get(order_id, ())),
            created_at=created_at,
            shop_code=shop_code,
        )
        for order_id, warehouse_code, status, created_at, shop_code in heads
    }


@dataclass(frozen=True)
class OpenUnits:
    """What an active reservation still holds: its warehouse and the units per SKU not yet issued."""

    warehouse_code: str
    units: dict[str, int]


async def open_units(conn: AsyncConnection, order_ids: Sequence[str]) -> dict[str, OpenUnits]:
    """Locks these orders' reservations (in order id order, as ``many``) and returns the active ones'
    units not yet issued, by order id: what allocating a wave's picks reads for thousands of orders, in
    two statements and without loading whole reservations."""
    ids = sorted(set(order_ids))
    if not ids:
        return {}
    heads = await conn.execute(
        sa.select(reservations.c.order_id, reservations.c.warehouse_code, reservations.c.status)
        .where(any_of(reservations.c.order_id, ids))
        .order_by(reservations.c.order_id)
        .with_for_update()
    )
    found = {
        order_id: OpenUnits(warehouse_code, {})
        for order_id, warehouse_code, status in heads
        if status == ReservationStatus.ACTIVE.value
    }
    if found:
        for order_id, sku_code, units in await conn.execute(
            sa.select(
                reservation_lines.c.order_id,
                reservation_lines.c.sku_code,
                reservation_lines.c.quantity - reservation_lines.c.issued,
            ).where(any_of(reservation_lines.c.order_id, list(found)))
        ):
            found[order_id].units[sku_code] = int(units)
    return found


async def require(conn: AsyncConnection, order_id: str, *, lock: bool = False) -> Reservation:
    found = await get(conn, order_id, lock=lock)
    if found is None:
        raise NotFound.for_field(
            "order_id", f"no reservation for order {order_id!r}", reason="RESERVATION_NOT_FOUND"
        )
    return found


def _same_request(existing: Reservation, request: ReservationRequest) -> bool:
    return (
        existing.shop_code == request.shop_code
        and existing.warehouse_code == request.warehouse_code
        and [(line.sku_code, line.quantity) for line in existing.lines]
        == [(line.sku_code, line.quantity) for line in request.lines]
    )


_LINE_COLUMNS = ("order_id", "sku_code", "quantity")


async def reserve(
    conn: AsyncConnection, request: ReservationRequest, *, actor: str
) -> tuple[Reservation, bool]:
    """Reserves every line of an order or none (INV-10). Idempotent by order id: the same order's
    reservation again returns the first one (second value False); different lines are refused."""
    if not await catalogue.warehouse_sellable(conn, request.warehouse_code):
        raise FailedPrecondition.for_field(
            "warehouse_code",
            "stock in a defective-goods warehouse is never for sale (INV-2)",
            reason="NOT_SELLABLE",
        )
    # The order id is the key: a concurrent duplicate waits here for the first to commit, then sees it.
    claimed = await conn.execute(
        insert(reservations)
        .values(
            order_id=request.order_id,
            warehouse_code=request.warehouse_code,
            status=ReservationStatus.ACTIVE.value,
            created_by=actor,
            shop_code=request.shop_code,
        )
        .on_conflict_do_nothing()
        .returning(reservations.c.created_at)
    )
    created_at = claimed.scalar_one_or_none()
    if created_at is None:
        existing = await require(conn, request.order_id, lock=True)
        if existing.status is ReservationStatus.CUT:
            # A count cut it (INV-13) and the order is being reviewed again: it reserves afresh.
            created_at = await _reopen(conn, request)
        elif not _same_request(existing, request):
            raise AlreadyExists.for_field(
                "order_id", "already has a reservation with other lines", reason="RESERVATION_EXISTS"
            )
        else:
            return existing, False

    unknown = await catalogue.unknown_skus(conn, [line.sku_code for line in request.lines])
    for i, line in enumerate(request.lines):
        if line.sku_code in unknown:
            raise NotFound.for_field(
                f"lines[{i}].sku_code", f"unknown SKU {line.sku_code!r}", reason="SKU_NOT_FOUND"
            )
    await conn.execute(
        insert_rows(reservation_lines, _LINE_COLUMNS),
        columns(_LINE_COLUMNS, ((request.order_id, line.sku_code, line.quantity) for line in request.lines)),
    )
    for i, line in enumerate(request.lines):
        # One line at a time so that a refusal names its line; the transaction makes it all or nothing.
        await ledger.post(
            conn,
            [_movement(MovementKind.RESERVATION, request.order_id, request.warehouse_code, line, +1)],
            actor=actor,
            field=f"lines[{i}].quantity",
        )
    # Built from what was just written rather than read back: this is the order flow's hot path.
    return (
        Reservation(
            order_id=request.order_id,
            warehouse_code=request.warehouse_code,
            status=ReservationStatus.ACTIVE,
            lines=tuple(ReservedLine(line.sku_code, line.quantity, 0) for line in request.lines),
            created_at=created_at,
            shop_code=request.shop_code,
        ),
        True,
    )


Answer = tuple[Reservation, bool] | DomainError


async def reserve_many(
    conn: AsyncConnection, requests: Sequence[ReservationRequest], *, actor: str
) -> list[Answer]:
    """Reserves many orders at once, each all or nothing, first come first served in the given order
    (INV-10): per order, what ``reserve`` would answer for it alone, as (reservation, created) or the
    error that refused it.

    Set-based, in the lock order of ``reserve``: the orders' reservation keys are claimed (in order id
    order), then the stock levels of every line are locked in (SKU, warehouse) order and read once; the
    orders are fitted in memory, and the accepted ones written in a handful of statements whatever their
    number. A refused order's claim is removed before the transaction ends, so nobody ever sees it.
    """
    answers: dict[int, Answer] = {}
    # Not dict(result): a Result has keys(), so dict() would read it as a mapping.
    sellable: dict[str, bool] = {
        code: flag
        for code, flag in await conn.execute(
            sa.select(warehouses.c.warehouse_code, warehouses.c.sellable).where(
                any_of(warehouses.c.warehouse_code, sorted({r.warehouse_code for r in requests}))
            )
        )
    }
    for i, request in enumerate(requests):
        if request.warehouse_code not in sellable:
            answers[i] = NotFound.for_field(
                "warehouse_code",
                f"unknown warehouse {request.warehouse_code!r}",
                reason="WAREHOUSE_NOT_FOUND",
            )
        elif not sellable[request.warehouse_code]:
            answers[i] = FailedPrecondition.for_field(
                "warehouse_code",
                "stock in a defective-goods warehouse is never for sale (INV-2)",
                reason="NOT_SELLABLE",
            )
    wanted = {i: r for i, r in enumerate(requests) if i not in answers}
    created_at = await _claim(conn, [r for r in wanted.values()], actor=actor)
    existing = await many(
        conn, [r.order_id for r in wanted.values() if r.order_id not in created_at], lock=True
    )
    reopen: set[str] = set()
    for i, request in list(wanted.items()):
        found = existing.get(request.order_id)
        if found is None:
            continue
        if found.status is ReservationStatus.CUT:
            reopen.add(request.order_id)  # cut by a count (INV-13): reserves afresh
        elif not _same_request(found, request):
            answers[i] = AlreadyExists.for_field(
                "order_id", "already has a reservation with other lines", reason="RESERVATION_EXISTS"
            )
            del wanted[i]
        else:
            answers[i] = (found, False)
            del wanted[i]

    unknown = await catalogue.unknown_skus(
        conn, sorted({x.sku_code for r in wanted.values() for x in r.lines})
    )
    for i, request in list(wanted.items()):
        for n, line in enumerate(request.lines):
            if line.sku_code in unknown:
                answers[i] = NotFound.for_field(
                    f"lines[{n}].sku_code", f"unknown SKU {line.sku_code!r}", reason="SKU_NOT_FOUND"
                )
                del wanted[i]
                break

    order = sorted(wanted)
    levels = await _lock_levels(
        conn, {(x.sku_code, r.warehouse_code) for r in wanted.values() for x in r.lines}
    )
    fits = serve_in_turn([wanted[i] for i in order], levels)
    for i, refused in zip(order, fits, strict=True):
        if refused is not None:
            answers[i] = refused
    accepted = [wanted[i] for i in order if i not in answers]
    for request in accepted:
        if request.order_id in reopen:
            created_at[request.order_id] = await _reopen(conn, request)
    if accepted:
        await conn.execute(
            insert_rows(reservation_lines, _LINE_COLUMNS),
            columns(
                _LINE_COLUMNS,
                ((r.order_id, line.sku_code, line.quantity) for r in accepted for line in r.lines),
            ),
        )
        await ledger.post(
            conn,
            [
                _movement(MovementKind.RESERVATION, r.order_id, r.warehouse_code, line, +1)
                for r in accepted
                for line in r.lines
            ],
            actor=actor,
        )
    unclaimed = sorted(
        requests[i].order_id
        for i, answer in answers.items()
        if isinstance(answer, DomainError) and requests[i].order_id in created_at
    )
    if unclaimed:
        await conn.execute(reservations.delete().where(any_of(reservations.c.order_id, unclaimed)))
    for i in order:
        if i in answers:
            continue
        request = wanted[i]
        answers[i] = (
            Reservation(
                order_id=request.order_id,
                warehouse_code=request.warehouse_code,
                status=ReservationStatus.ACTIVE,
                lines=tuple(ReservedLine(line.sku_code, line.quantity, 0) for line in request.lines),
                created_at=created_at[request.order_id],
                shop_code=request.shop_code,
            ),
            True,
        )
    return [answers[i] for i in range(len(requests))]


async def _claim(
    conn: AsyncConnection, requests: Sequence[ReservationRequest], *, actor: str
) -> dict[str, datetime]:
    """Inserts the reservation rows that do not exist yet, in order id order (the order every claimer of
    several keys uses); returns the claimed ones' creation times by order id."""
    if not requests:
        return {}
    ordered = sorted(requests, key=lambda r: r.order_id)
    rows = sa.select(
        sa.func.unnest(
            sa.bindparam(None, [r.order_id for r in ordered], type_=_TEXTS),
            sa.bindparam(None, [r.warehouse_code for r in ordered], type_=_TEXTS),
            sa.bindparam(None, [r.shop_code for r in ordered], type_=_TEXTS),
        )
        .table_valued("order_id", "warehouse_code", "shop_code")
        .render_derived()
    ).subquery()
    claimed = await conn.execute(
        insert(reservations)
        .from_select(
            ["order_id", "warehouse_code", "shop_code", "status", "created_by"],
            sa.select(
                rows.c.order_id,
                rows.c.warehouse_code,
                rows.c.shop_code,
                sa.literal(ReservationStatus.ACTIVE.value),
                sa.literal(actor),
            ).order_by(rows.c.order_id),
        )
        .on_conflict_do_nothing()
        .returning(reservations.c.order_id, reservations.c.created_at)
    )
    return {order_id: at for order_id, at in claimed.all()}


async def _lock_levels(
    conn: AsyncConnection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], StockLevel]:
    """Locks and reads the stock levels of (SKU, warehouse) pairs in the service's lock order; a pair
    without a row has nothing and is absent."""
    if not keys:
        return {}
    ordered = sorted(keys)
    wanted = (
        sa.func.unnest(
            sa.bindparam(None, [s for s, _ in ordered], type_=_TEXTS),
            sa.bindparam(None, [w for _, w in ordered], type_=_TEXTS),
        )
        .table_valued("sku_code", "warehouse_code")
        .render_derived()
    )
    rows = await conn.execute(
        sa.select(
            stock_levels.c.sku_code,
            stock_levels.c.warehouse_code,
            stock_levels.c.on_hand,
            stock_levels.c.reserved,
            stock_levels.c.held,
            warehouses.c.sellable,
        )
        .select_from(stock_levels)
        .join(warehouses, warehouses.c.warehouse_code == stock_levels.c.warehouse_code)
        .join(
            wanted,
            sa.and_(
                wanted.c.sku_code == stock_levels.c.sku_code,
                wanted.c.warehouse_code == stock_levels.c.warehouse_code,
            ),
        )
        .order_by(stock_levels.c.sku_code, stock_levels.c.warehouse_code)
        .with_for_update(of=stock_levels)
    )
    return {(r[0], r[1]): StockLevel(*r) for r in rows.all()}


async def _reopen(conn: AsyncConnection, request: ReservationRequest) -> datetime:
    await conn.execute(reservation_lines.delete().where(reservation_lines.c.order_id == request.order_id))
    reopened = await conn.execute(
        reservations.update()
        .where(reservations.c.order_id == request.order_id)
        .values(status=ReservationStatus.ACTIVE.value, warehouse_code=request.warehouse_code, closed_at=None)
        .returning(reservations.c.created_at)
    )
    created_at: datetime = reopened.scalar_one()
    return created_at


def _movement(kind: MovementKind, order_id: str, warehouse_code: str, line: Line, sign: int) -> Movement:
    return Movement(
        kind=kind,
        sku_code=line.sku_code,
        warehouse_code=warehouse_code,
        reserved_delta=sign * line.quantity,
        document_type=DOCUMENT,
        document_id=order_id,
    )


async def release(
    conn: AsyncConnection, order_id: str, *, actor: str, reason: str
) -> tuple[Reservation, bool]:
    """Returns what is still reserved and not issued to sale. Releasing again is harmless (second value False)."""
    existing = await require(conn, order_id, lock=True)
    if existing.status is not ReservationStatus.ACTIVE:
        return existing, False
    movements = [
        Movement(
            kind=MovementKind.RELEASE,
            sku_code=line.sku_code,
            warehouse_code=existing.warehouse_code,
            reserved_delta=-(line.quantity - line.issued),
            document_type=DOCUMENT,
            document_id=order_id,
            note=reason,
        )
        for line in existing.lines
        if line.quantity > line.issued
    ]
    if movements:
        await ledger.post(conn, movements, actor=actor)
    await _close(conn, order_id, ReservationStatus.RELEASED)
    return await require(conn, order_id), True


async def _close(conn: AsyncConnection, order_id: str, status: ReservationStatus) -> None:
    # A closed reservation keeps no lots for picking: released, its units are free for others again.
    await conn.execute(
        pick_allocations.delete().where(
            pick_allocations.c.order_id == order_id, sa.not_(pick_allocations.c.issued)
        )
    )
    await conn.execute(
        reservations.update()
        .where(reservations.c.order_id == order_id)
        .values(status=status.value, closed_at=sa.func.now())
    )


async def issue(
    conn: AsyncConnection,
    order_id: str,
    wanted: list[tuple[str, int]] | None,
    *,
    actor: str,
    shipment_id: str,
    kept: Mapping[str, list[Pick]] | None = None,
) -> tuple[Reservation, list[IssuedPick]]:
    """Issues reserved units at dispatch, oldest lot first (INV-11). ``wanted`` lists (SKU, quantity) for a
    partial shipment; None issues everything still reserved. Issuing more than is reserved is refused.
    ``kept`` gives, per SKU, the lots and bins allocated to the shipment when its wave closed
    (``pick_allocations``): those are issued, so the pick list and the issue agree; other SKUs take the
    oldest lots not kept for another shipment."""
    existing = await require(conn, order_id, lock=True)
    if existing.status is not ReservationStatus.ACTIVE:
        raise FailedPrecondition.for_field(
            "order_id", f"the reservation is {existing.status.value}", reason="RESERVATION_CLOSED"
        )
    open_lines = {line.sku_code: line.quantity - line.issued for line in existing.lines}
    if wanted is None:
        wanted = [(sku, qty) for sku, qty in open_lines.items() if qty > 0]
    else:
        merged: dict[str, int] = {}
        for i, (sku, qty) in enumerate(wanted):
            if sku not in open_lines:
                raise InvalidArgument.for_field(
                    f"lines[{i}].sku_code", f"{sku!r} is not reserved for this order"
                )
            if qty < 1:
                raise InvalidArgument.for_field(
                    f"lines[{i}].quantity", "must be a whole number of at least 1"
                )
            merged[sku] = merged.get(sku, 0) + qty
            if merged[sku] > open_lines[sku]:
                raise FailedPrecondition.for_field(
                    f"lines[{i}].quantity",
                    f"only {open_lines[sku]} units of {sku} are reserved and not yet issued",
                    reason="MORE_THAN_RESERVED",
                )
        wanted = sorted(merged.items())

    await ledger.lock_levels(conn, [(sku, existing.warehouse_code) for sku, _ in wanted])
    movements: list[Movement] = []
    issued: list[IssuedPick] = []
    for sku, qty in sorted(wanted):
        if kept is not None and sku in kept:
            picks = kept[sku]
        else:
            stock = await ledger.lots_of(conn, sku, existing.warehouse_code, lock=True, unkept=True)
            picks = pick_fifo(stock, qty, field="order_id")
        for pick in picks:
            issued.append(IssuedPick(sku, pick))
            movements.append(
                Movement(
                    kind=MovementKind.ISSUE,
                    sku_code=sku,
                    warehouse_code=existing.warehouse_code,
                    lot_id=pick.lot_id,
                    bin_code=pick.bin_code,
                    on_hand_delta=-pick.quantity,
                    reserved_delta=-pick.quantity,
                    document_type="shipment",
                    document_id=shipment_id,
                    note=f"order {order_id}",
                )
            )
        await conn.execute(
            reservation_lines.update()
            .where(reservation_lines.c.order_id == order_id, reservation_lines.c.sku_code == sku)
            .values(issued=reservation_lines.c.issued + qty)
        )
    await ledger.post(conn, movements, actor=actor)
    after = await require(conn, order_id)
    if all(line.issued == line.quantity for line in after.lines):
        await _close(conn, order_id, ReservationStatus.ISSUED)
        after = await require(conn, order_id)
    return after, issued
