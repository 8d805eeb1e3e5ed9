"""Reservations, issue, holds, put-away and places through the real inventory gRPC server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from shop.inventory.v1 import inventory_pb2 as pb
from shop.inventory.v1 import inventory_pb2_grpc

from libs.grpc_client import open_channel
from services.inventory.store import holds as hold_store
from services.inventory.store.reconciliation import discrepancies
from services.inventory.store.tables import reservations, stock_movements
from tests.conftest import auth
from tests.integration.test_inventory_rpc import count, field_violations, sku_request

KEEPER = auth("stock_keeper", "keeper-1")
SUPERVISOR = auth("warehouse_supervisor", "boss-1")
SHOP = auth("integrator", "shop-platform")
SALES = auth("customer_service", "cs-1")


async def stock(stub, sku="LJ-250-GRN", quantity=50, request_id=None, bin_code="", barcode=None):
    """Registers ``sku`` if needed and receives ``quantity`` units as a new lot."""
    try:
        await stub.RegisterSku(
            sku_request(f"reg-{sku}", sku_code=sku, style_number=sku, barcode=barcode or f"BC-{sku}"),
            metadata=KEEPER,
        )
    except grpc.aio.AioRpcError as err:
        assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    reply = await stub.ReceiveStock(
        pb.ReceiveStockRequest(
            request_id=request_id or f"in-{sku}-{quantity}-{bin_code}",
            sku_code=sku,
            warehouse_code="MAIN",
            quantity=quantity,
            bin_code=bin_code,
        ),
        metadata=KEEPER,
    )
    return reply.lot


def reserve(order_id: str, *lines: tuple[str, int]) -> pb.ReserveStockRequest:
    return pb.ReserveStockRequest(
        order_id=order_id, lines=[pb.StockLine(sku_code=s, quantity=q) for s, q in lines]
    )


async def level(stub, sku="LJ-250-GRN", warehouse="MAIN") -> pb.StockLevel:
    levels = await stub.GetStockLevels(pb.GetStockLevelsRequest(sku_code=sku), metadata=KEEPER)
    return next(lv for lv in levels.levels if lv.warehouse_code == warehouse)


async def assert_books_agree(inventory) -> None:
    async with inventory.database.connection() as conn:
        assert await discrepancies(conn) == []


# --- reservations -----------------------------------------------------------------------------


async def test_200_concurrent_reservations_of_50_units_never_oversell_inv_10(inventory):
    """INV-10: 200 orders race for 50 units over several connections; exactly 50 win, available ends at 0."""
    stub = inventory_pb2_grpc.InventoryServiceStub(inventory.channel)
    await stock(stub, quantity=50)
    channels = [open_channel(inventory.target) for _ in range(8)]
    stubs = [inventory_pb2_grpc.InventoryServiceStub(c) for c in channels]

    async def attempt(i: int) -> grpc.StatusCode:
        try:
            await stubs[i % len(stubs)].ReserveStock(reserve(f"order-{i}", ("LJ-250-GRN", 1)), metadata=SHOP)
        except grpc.aio.AioRpcError as err:
            return err.code()
        return grpc.StatusCode.OK

    try:
        outcomes = await asyncio.gather(*(attempt(i) for i in range(200)))
    finally:
        for c in channels:
            await c.close()
    assert outcomes.count(grpc.StatusCode.OK) == 50
    assert outcomes.count(grpc.StatusCode.FAILED_PRECONDITION) == 150
    final = await level(stub)
    assert (final.on_hand, final.reserved, final.available) == (50, 50, 0)
    assert await count(inventory.database, reservations) == 50
    await assert_books_agree(inventory)


async def test_same_order_reserved_20_times_at_once_reserves_once(inventory_stub, inventory):
    await stock(inventory_stub, quantity=10)
    request = reserve("order-1", ("LJ-250-GRN", 3))
    replies = await asyncio.gather(*(inventory_stub.ReserveStock(request, metadata=SHOP) for _ in range(20)))
    assert sum(r.created for r in replies) == 1
    assert len({r.reservation.SerializeToString(deterministic=True) for r in replies}) == 1
    assert (await level(inventory_stub)).reserved == 3
    await assert_books_agree(inventory)


async def test_reservation_is_all_or_nothing_and_names_the_short_line_inv_10(inventory_stub, inventory):
    await stock(inventory_stub, "A-1", quantity=5)
    await stock(inventory_stub, "B-1", quantity=2)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReserveStock(reserve("order-1", ("A-1", 4), ("B-1", 3)), metadata=SHOP)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "lines[1].quantity" in field_violations(exc.value)
    assert (await level(inventory_stub, "A-1")).reserved == 0
    assert await count(inventory.database, reservations) == 0
    # After the refusal the order can be reserved once stock allows.
    ok = await inventory_stub.ReserveStock(reserve("order-1", ("A-1", 4), ("B-1", 2)), metadata=SHOP)
    assert ok.created


async def test_same_order_with_other_lines_is_refused(inventory_stub):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 3)), metadata=SHOP)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 4)), metadata=SHOP)
    assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "order_id" in field_violations(exc.value)


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (reserve("", ("LJ-250-GRN", 1)), grpc.StatusCode.INVALID_ARGUMENT, "order_id"),
        (reserve("o"), grpc.StatusCode.INVALID_ARGUMENT, "lines"),
        (reserve("o", ("LJ-250-GRN", 0)), grpc.StatusCode.INVALID_ARGUMENT, "lines[0].quantity"),
        (reserve("o", ("LJ-250-GRN", 1), ("X", -2)), grpc.StatusCode.INVALID_ARGUMENT, "lines[1].quantity"),
        (reserve("o", ("NOPE", 1)), grpc.StatusCode.NOT_FOUND, "lines[0].sku_code"),
        (
            pb.ReserveStockRequest(
                order_id="o",
                warehouse_code="NOWHERE",
                lines=[pb.StockLine(sku_code="LJ-250-GRN", quantity=1)],
            ),
            grpc.StatusCode.NOT_FOUND,
            "warehouse_code",
        ),
        (
            pb.ReserveStockRequest(
                order_id="o",
                warehouse_code="DEFECTIVE",
                lines=[pb.StockLine(sku_code="LJ-250-GRN", quantity=1)],
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "warehouse_code",
        ),
    ],
)
async def test_bad_reservations_name_the_field_and_write_nothing(
    inventory_stub, inventory, request_, code, field
):
    await stock(inventory_stub, quantity=10)
    movements_before = await count(inventory.database, stock_movements)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReserveStock(request_, metadata=SHOP)
    assert exc.value.code() == code
    assert field in field_violations(exc.value)
    assert await count(inventory.database, reservations) == 0
    assert await count(inventory.database, stock_movements) == movements_before


async def test_release_returns_units_to_sale_and_twice_is_harmless(inventory_stub, inventory):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 4)), metadata=SHOP)
    assert (await level(inventory_stub)).available == 6
    for _ in range(2):
        reply = await inventory_stub.ReleaseReservation(
            pb.ReleaseReservationRequest(order_id="order-1", reason="cancelled by buyer"), metadata=SHOP
        )
        assert reply.reservation.status == pb.RESERVATION_STATUS_RELEASED
    assert (await level(inventory_stub)).available == 10
    await assert_books_agree(inventory)


async def test_issue_consumes_the_oldest_lots_first_inv_11(inventory_stub, inventory):
    """INV-11: sellable stock is issued first in, first out by lot."""
    old = await stock(inventory_stub, quantity=5, request_id="in-old")
    new = await stock(inventory_stub, quantity=10, request_id="in-new")
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 8)), metadata=SHOP)
    reply = await inventory_stub.IssueReservation(
        pb.IssueReservationRequest(request_id="ship-1", order_id="order-1", shipment_id="PARCEL-1"),
        metadata=KEEPER,
    )
    assert [(i.lot_id, i.quantity) for i in reply.issued] == [(old.lot_id, 5), (new.lot_id, 3)]
    assert reply.reservation.status == pb.RESERVATION_STATUS_ISSUED
    after = await level(inventory_stub)
    assert (after.on_hand, after.reserved, after.available) == (7, 0, 7)
    lots = await inventory_stub.ListLots(pb.ListLotsRequest(sku_code="LJ-250-GRN"), metadata=KEEPER)
    assert [(x.lot_id, x.on_hand) for x in lots.lots] == [(new.lot_id, 7)]
    await assert_books_agree(inventory)


async def test_partial_issues_then_release_of_the_rest(inventory_stub, inventory):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 6)), metadata=SHOP)
    first = await inventory_stub.IssueReservation(
        pb.IssueReservationRequest(
            request_id="ship-1",
            order_id="order-1",
            shipment_id="P-1",
            lines=[pb.StockLine(sku_code="LJ-250-GRN", quantity=2)],
        ),
        metadata=KEEPER,
    )
    assert first.reservation.status == pb.RESERVATION_STATUS_ACTIVE
    assert first.reservation.lines[0].issued == 2
    released = await inventory_stub.ReleaseReservation(
        pb.ReleaseReservationRequest(order_id="order-1"), metadata=SHOP
    )
    assert released.reservation.status == pb.RESERVATION_STATUS_RELEASED
    after = await level(inventory_stub)
    assert (after.on_hand, after.reserved, after.available) == (8, 0, 8)
    await assert_books_agree(inventory)


async def test_issuing_more_than_reserved_is_refused_and_writes_nothing(inventory_stub, inventory):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 3)), metadata=SHOP)
    before = await count(inventory.database, stock_movements)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.IssueReservation(
            pb.IssueReservationRequest(
                request_id="ship-1",
                order_id="order-1",
                shipment_id="P-1",
                lines=[pb.StockLine(sku_code="LJ-250-GRN", quantity=4)],
            ),
            metadata=KEEPER,
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "lines[0].quantity" in field_violations(exc.value)
    assert await count(inventory.database, stock_movements) == before


async def test_issue_needs_a_document_and_a_stock_keeper_inv_11_inv_18(inventory_stub):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 3)), metadata=SHOP)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.IssueReservation(
            pb.IssueReservationRequest(request_id="s", order_id="order-1", shipment_id=""), metadata=KEEPER
        )
    assert "shipment_id" in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.IssueReservation(
            pb.IssueReservationRequest(request_id="s", order_id="order-1", shipment_id="P"), metadata=SHOP
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_issue_replay_issues_once(inventory_stub, inventory):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 3)), metadata=SHOP)
    request = pb.IssueReservationRequest(request_id="ship-1", order_id="order-1", shipment_id="P-1")
    replies = await asyncio.gather(
        *(inventory_stub.IssueReservation(request, metadata=KEEPER) for _ in range(5))
    )
    assert len({r.SerializeToString(deterministic=True) for r in replies}) == 1
    assert (await level(inventory_stub)).on_hand == 7


# --- holds ------------------------------------------------------------------------------------


async def test_hold_without_period_expires_after_7_days_inv_9(inventory_stub, inventory):
    """INV-9: a hold with no stated period expires after 7 days and returns to normal sale."""
    await stock(inventory_stub, quantity=10)
    placed = await inventory_stub.PlaceHold(
        pb.PlaceHoldRequest(request_id="h-1", sku_code="LJ-250-GRN", quantity=4, customer_ref="VIP-7"),
        metadata=SALES,
    )
    expires = placed.hold.expires_at.ToDatetime(tzinfo=UTC)
    assert timedelta(days=7) - timedelta(minutes=1) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert (await level(inventory_stub)).available == 6
    async with inventory.database.transaction() as conn:
        assert await hold_store.expire_due(conn, now=datetime.now(UTC) + timedelta(days=6)) == []
    async with inventory.database.transaction() as conn:
        expired = await hold_store.expire_due(conn, now=datetime.now(UTC) + timedelta(days=7, minutes=1))
    assert [str(h.hold_id) for h in expired] == [placed.hold.hold_id]
    after = await level(inventory_stub)
    assert (after.held, after.available) == (0, 10)
    listed = await inventory_stub.ListHolds(pb.ListHoldsRequest(sku_code="LJ-250-GRN"), metadata=SALES)
    assert list(listed.holds) == []
    await assert_books_agree(inventory)


async def test_sweepers_in_several_replicas_expire_each_hold_once_inv_9(inventory_stub, inventory):
    await stock(inventory_stub, quantity=100)
    soon = Timestamp()
    soon.FromDatetime(datetime.now(UTC) + timedelta(minutes=5))
    for i in range(30):
        await inventory_stub.PlaceHold(
            pb.PlaceHoldRequest(
                request_id=f"h-{i}", sku_code="LJ-250-GRN", quantity=2, customer_ref=f"C-{i}", expires_at=soon
            ),
            metadata=SALES,
        )
    assert (await level(inventory_stub)).held == 60

    async def sweeper() -> int:
        total = 0
        while True:
            async with inventory.database.transaction() as conn:
                batch = await hold_store.expire_due(conn, now=datetime.now(UTC) + timedelta(hours=1), limit=4)
            if not batch:
                return total
            total += len(batch)

    totals = await asyncio.gather(*(sweeper() for _ in range(4)))
    assert sum(totals) == 30
    async with inventory.database.connection() as conn:
        expiries = (
            await conn.execute(sa.select(sa.func.count()).where(stock_movements.c.kind == "hold_expiry"))
        ).scalar_one()
    assert expiries == 30
    assert (await level(inventory_stub)).held == 0
    await assert_books_agree(inventory)


async def test_holds_and_reservations_share_availability_inv_10(inventory_stub):
    await stock(inventory_stub, quantity=10)
    await inventory_stub.PlaceHold(
        pb.PlaceHoldRequest(request_id="h-1", sku_code="LJ-250-GRN", quantity=7, customer_ref="VIP"),
        metadata=SALES,
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 4)), metadata=SHOP)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await inventory_stub.ReserveStock(reserve("order-1", ("LJ-250-GRN", 3)), metadata=SHOP)
    with pytest.raises(grpc.aio.AioRpcError):
        await inventory_stub.PlaceHold(
            pb.PlaceHoldRequest(request_id="h-2", sku_code="LJ-250-GRN", quantity=1, customer_ref="VIP"),
            metadata=SALES,
        )
    assert (await level(inventory_stub)).available == 0


async def test_release_hold_and_bad_holds(inventory_stub):
    await stock(inventory_stub, quantity=10)
    placed = await inventory_stub.PlaceHold(
        pb.PlaceHoldRequest(request_id="h-1", sku_code="LJ-250-GRN", quantity=2, customer_ref="VIP"),
        metadata=SALES,
    )
    released = await inventory_stub.ReleaseHold(
        pb.ReleaseHoldRequest(hold_id=placed.hold.hold_id), metadata=SALES
    )
    assert released.hold.status == pb.HOLD_STATUS_RELEASED
    past = Timestamp()
    past.FromDatetime(datetime.now(UTC) - timedelta(hours=1))
    for request, field in (
        (
            pb.PlaceHoldRequest(request_id="h-2", sku_code="LJ-250-GRN", quantity=0, customer_ref="V"),
            "quantity",
        ),
        (
            pb.PlaceHoldRequest(request_id="h-3", sku_code="LJ-250-GRN", quantity=1, customer_ref=""),
            "customer_ref",
        ),
        (
            pb.PlaceHoldRequest(
                request_id="h-4", sku_code="LJ-250-GRN", quantity=1, customer_ref="V", expires_at=past
            ),
            "expires_at",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await inventory_stub.PlaceHold(request, metadata=SALES)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReleaseHold(pb.ReleaseHoldRequest(hold_id="not-a-uuid"), metadata=SALES)
    assert "hold_id" in field_violations(exc.value)


# --- places and put-away ----------------------------------------------------------------------


async def test_put_away_moves_a_lot_into_a_bin_inv_6(inventory_stub, inventory):
    """INV-6: accepted units are moved to bin locations; the books know where every lot is."""
    await inventory_stub.CreateBin(
        pb.CreateBinRequest(request_id="b-1", warehouse_code="MAIN", bin_code="A-01-01"), metadata=SUPERVISOR
    )
    lot = await stock(inventory_stub, quantity=10)
    assert lot.bin_code == ""
    reply = await inventory_stub.PutAway(
        pb.PutAwayRequest(
            request_id="pa-1",
            lot_id=lot.lot_id,
            warehouse_code="MAIN",
            from_bin_code="",
            to_bin_code="A-01-01",
            quantity=6,
        ),
        metadata=KEEPER,
    )
    assert sorted((x.bin_code, x.on_hand) for x in reply.lots) == [("", 4), ("A-01-01", 6)]
    assert (await level(inventory_stub)).on_hand == 10
    # A put-away that names no warehouse is in the main one.
    reply = await inventory_stub.PutAway(
        pb.PutAwayRequest(
            request_id="pa-main", lot_id=lot.lot_id, from_bin_code="", to_bin_code="A-01-01", quantity=1
        ),
        metadata=KEEPER,
    )
    assert sorted((x.warehouse_code, x.bin_code, x.on_hand) for x in reply.lots) == [
        ("MAIN", "", 3),
        ("MAIN", "A-01-01", 7),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.PutAway(
            pb.PutAwayRequest(
                request_id="pa-2",
                lot_id=lot.lot_id,
                warehouse_code="MAIN",
                from_bin_code="",
                to_bin_code="A-01-01",
                quantity=5,
            ),
            metadata=KEEPER,
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.PutAway(
            pb.PutAwayRequest(
                request_id="pa-3",
                lot_id=lot.lot_id,
                warehouse_code="MAIN",
                from_bin_code="",
                to_bin_code="Z-99",
                quantity=1,
            ),
            metadata=KEEPER,
        )
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    assert "to_bin_code" in field_violations(exc.value)
    await assert_books_agree(inventory)


async def test_warehouses_and_bins_inv_2(inventory_stub):
    """INV-2: sellable and defective-goods warehouses with bin locations."""
    listed = await inventory_stub.ListWarehouses(pb.ListWarehousesRequest(), metadata=KEEPER)
    assert {(w.warehouse_code, w.sellable) for w in listed.warehouses} >= {
        ("MAIN", True),
        ("DEFECTIVE", False),
    }
    await inventory_stub.CreateWarehouse(
        pb.CreateWarehouseRequest(request_id="w-1", warehouse_code="SH-2", name="Shanghai 2", sellable=True),
        metadata=SUPERVISOR,
    )
    # Unset means a sellable warehouse; a defective-goods warehouse is registered on purpose.
    unset = await inventory_stub.CreateWarehouse(
        pb.CreateWarehouseRequest(request_id="w-4", warehouse_code="SH-3", name="Shanghai 3"),
        metadata=SUPERVISOR,
    )
    assert unset.warehouse.HasField("sellable") and unset.warehouse.sellable
    defective = await inventory_stub.CreateWarehouse(
        pb.CreateWarehouseRequest(
            request_id="w-5", warehouse_code="BAD-2", name="Defective 2", sellable=False
        ),
        metadata=SUPERVISOR,
    )
    assert defective.warehouse.HasField("sellable") and not defective.warehouse.sellable
    listed = await inventory_stub.ListWarehouses(pb.ListWarehousesRequest(), metadata=KEEPER)
    assert {(w.warehouse_code, w.sellable) for w in listed.warehouses} >= {("SH-3", True), ("BAD-2", False)}
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CreateWarehouse(
            pb.CreateWarehouseRequest(request_id="w-2", warehouse_code="SH-2", name="Again", sellable=True),
            metadata=SUPERVISOR,
        )
    assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CreateWarehouse(
            pb.CreateWarehouseRequest(request_id="w-3", warehouse_code="X", name="X", sellable=True),
            metadata=KEEPER,
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    await inventory_stub.CreateBin(
        pb.CreateBinRequest(request_id="b-1", warehouse_code="SH-2", bin_code="A-01", description="aisle A"),
        metadata=SUPERVISOR,
    )
    bins = await inventory_stub.ListBins(pb.ListBinsRequest(warehouse_code="SH-2"), metadata=KEEPER)
    assert [b.bin_code for b in bins.bins] == ["A-01"]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CreateBin(
            pb.CreateBinRequest(request_id="b-2", warehouse_code="NOWHERE", bin_code="A-01"),
            metadata=SUPERVISOR,
        )
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND


async def test_others_move_stock_only_with_an_approval_inv_18(inventory_stub, inventory):
    """INV-18: only stock keepers move stock; a porter may help once a stock keeper approves it, and any
    other purpose needs the department leader."""
    from google.protobuf.timestamp_pb2 import Timestamp as Ts

    porter = auth("logistics_clerk", "porter-1")
    await inventory_stub.CreateBin(
        pb.CreateBinRequest(request_id="b", warehouse_code="MAIN", bin_code="A-01"), metadata=SUPERVISOR
    )
    lot = await stock(inventory_stub, quantity=10)
    move = pb.PutAwayRequest(
        request_id="pa",
        lot_id=lot.lot_id,
        warehouse_code="MAIN",
        from_bin_code="",
        to_bin_code="A-01",
        quantity=4,
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.PutAway(move, metadata=porter)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    until = Ts()
    until.FromDatetime(datetime.now(UTC) + timedelta(hours=2))
    with pytest.raises(grpc.aio.AioRpcError) as exc:  # a keeper may not approve a special visit
        await inventory_stub.GrantWarehouseAccess(
            pb.GrantWarehouseAccessRequest(
                user_id="porter-1", purpose=pb.ACCESS_PURPOSE_SPECIAL, valid_until=until
            ),
            metadata=KEEPER,
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    granted = await inventory_stub.GrantWarehouseAccess(
        pb.GrantWarehouseAccessRequest(
            user_id="porter-1", purpose=pb.ACCESS_PURPOSE_GOODS_HANDLING, valid_until=until
        ),
        metadata=KEEPER,
    )
    assert granted.granted_by_role == "stock_keeper"
    moved = await inventory_stub.PutAway(move, metadata=porter)
    assert sorted((x.bin_code, x.on_hand) for x in moved.lots) == [("", 6), ("A-01", 4)]
    async with inventory.database.connection() as conn:
        actor = (
            await conn.execute(
                sa.select(stock_movements.c.actor).where(stock_movements.c.kind == "put_away").limit(1)
            )
        ).scalar_one()
    assert actor == "porter-1"
