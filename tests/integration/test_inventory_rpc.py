"""Every inventory RPC through a real gRPC server and database: success, idempotency, bad input, roles."""

from __future__ import annotations

import asyncio

import grpc
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2, status_pb2
from shop.inventory.v1 import inventory_pb2 as pb

from libs import identity
from services.inventory.store.tables import kit, skus, stock_levels, stock_movements
from tests.conftest import auth

KEEPER = auth("stock_keeper", "keeper-1")


def sku_request(request_id: str = "reg-1", **overrides: object) -> pb.RegisterSkuRequest:
    fields: dict[str, object] = {
        "request_id": request_id,
        "sku_code": "LJ-250-GRN",
        "style_number": "LJ-250",
        "colour": "green",
        "size": "250g",
        "name": "West Lake Longjing 250 g",
        "category": "tea",
        "barcode": "6901234567890",
        "kind": pb.SKU_KIND_SELLABLE,
    }
    fields.update(overrides)
    return pb.RegisterSkuRequest(**fields)  # type: ignore[arg-type]


def field_violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    """The google.rpc.BadRequest field violations a status carries."""
    for key, value in err.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    return {v.field: v.description for v in bad.field_violations}
    return {}


async def count(db, table: sa.Table) -> int:
    async with db.connection() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


async def test_register_sku_then_get_it_inv_1(inventory_stub):
    """INV-1: a SKU is style + colour + size with name, category and barcode."""
    reply = await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    assert reply.sku.sku_code == "LJ-250-GRN"
    assert reply.sku.kind == pb.SKU_KIND_SELLABLE
    assert reply.sku.created_at.seconds > 0
    got = await inventory_stub.GetSku(pb.GetSkuRequest(sku_code="LJ-250-GRN"), metadata=KEEPER)
    assert got.sku == reply.sku


async def test_packing_material_needs_no_colour_or_size_inv_1(inventory_stub):
    reply = await inventory_stub.RegisterSku(
        sku_request(
            sku_code="BOX-S",
            style_number="BOX",
            colour="",
            size="",
            name="Small box",
            category="packing",
            barcode="BOX-0001",
            kind=pb.SKU_KIND_PACKING_MATERIAL,
        ),
        metadata=KEEPER,
    )
    assert reply.sku.kind == pb.SKU_KIND_PACKING_MATERIAL


async def test_register_sku_without_a_kind_registers_a_sellable_item_inv_1(inventory_stub):
    """INV-1: an item registered without a kind is one the shop sells (the service's default)."""
    reply = await inventory_stub.RegisterSku(sku_request(kind=pb.SKU_KIND_UNSPECIFIED), metadata=KEEPER)
    assert reply.sku.kind == pb.SKU_KIND_SELLABLE
    with pytest.raises(grpc.aio.AioRpcError) as exc:  # and so it needs colour and size
        await inventory_stub.RegisterSku(
            sku_request(
                "reg-2", sku_code="LJ-2", barcode="6900000000001", colour="", kind=pb.SKU_KIND_UNSPECIFIED
            ),
            metadata=KEEPER,
        )
    assert "colour" in field_violations(exc.value)


async def test_register_sku_replay_returns_first_result(inventory_stub, inventory):
    first = await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    again = await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    assert again == first
    assert await count(inventory.database, skus) == 1


async def test_same_request_id_with_other_payload_is_refused(inventory_stub):
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.RegisterSku(sku_request(name="Other"), metadata=KEEPER)
    assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "request_id" in field_violations(exc.value)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"sku_code": "has space"}, "sku_code"),
        ({"barcode": "12"}, "barcode"),
        ({"name": "  "}, "name"),
        ({"colour": ""}, "colour"),
        ({"kind": 99}, "kind"),
        ({"request_id": " "}, "request_id"),
    ],
)
async def test_register_sku_bad_input_names_the_field(inventory_stub, inventory, overrides, field):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.RegisterSku(sku_request(**overrides), metadata=KEEPER)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in field_violations(exc.value)
    assert await count(inventory.database, skus) == 0
    assert await count(inventory.database, kit.idempotency) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"request_id": "r2"}, "sku_code"),
        ({"request_id": "r2", "sku_code": "LJ-OTHER"}, "barcode"),
        ({"request_id": "r2", "sku_code": "LJ-OTHER", "barcode": "6900000000000"}, "style_number"),
    ],
)
async def test_register_sku_duplicates_name_the_clashing_field(inventory_stub, overrides, field):
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.RegisterSku(sku_request(**overrides), metadata=KEEPER)
    assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert field in field_violations(exc.value)


async def test_get_unknown_sku_is_not_found(inventory_stub):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.GetSku(pb.GetSkuRequest(sku_code="NOPE"), metadata=KEEPER)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    assert "sku_code" in field_violations(exc.value)


async def test_receive_stock_raises_on_hand_and_ledger_matches_inv_14(inventory_stub, inventory):
    """INV-14: on-hand equals the sum of the ledger's movements."""
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    first = await inventory_stub.ReceiveStock(
        pb.ReceiveStockRequest(request_id="in-1", sku_code="LJ-250-GRN", warehouse_code="MAIN", quantity=30),
        metadata=KEEPER,
    )
    second = await inventory_stub.ReceiveStock(
        pb.ReceiveStockRequest(request_id="in-2", sku_code="LJ-250-GRN", warehouse_code="MAIN", quantity=12),
        metadata=KEEPER,
    )
    assert first.level.on_hand == 30
    assert second.level.on_hand == 42
    assert second.level.available == 42
    levels = await inventory_stub.GetStockLevels(
        pb.GetStockLevelsRequest(sku_code="LJ-250-GRN"), metadata=KEEPER
    )
    assert [(lv.warehouse_code, lv.on_hand, lv.available) for lv in levels.levels] == [("MAIN", 42, 42)]
    assert levels.available == 42
    async with inventory.database.connection() as conn:
        ledger = (await conn.execute(sa.select(sa.func.sum(stock_movements.c.on_hand_delta)))).scalar_one()
    assert ledger == 42


async def test_stock_in_defective_warehouse_is_never_available_inv_2(inventory_stub):
    """INV-2: stock in the defective-goods warehouse is never available for sale."""
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    reply = await inventory_stub.ReceiveStock(
        pb.ReceiveStockRequest(
            request_id="in-d", sku_code="LJ-250-GRN", warehouse_code="DEFECTIVE", quantity=5
        ),
        metadata=KEEPER,
    )
    assert reply.level.on_hand == 5
    assert reply.level.available == 0
    assert not reply.level.sellable
    levels = await inventory_stub.GetStockLevels(
        pb.GetStockLevelsRequest(sku_code="LJ-250-GRN"), metadata=KEEPER
    )
    assert levels.available == 0


async def test_stock_received_without_a_warehouse_goes_to_main(inventory_stub):
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    reply = await inventory_stub.ReceiveStock(
        pb.ReceiveStockRequest(request_id="in-m", sku_code="LJ-250-GRN", quantity=4), metadata=KEEPER
    )
    assert (reply.lot.warehouse_code, reply.level.warehouse_code, reply.level.on_hand) == ("MAIN", "MAIN", 4)


async def test_receive_stock_replay_books_once(inventory_stub, inventory):
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    request = pb.ReceiveStockRequest(
        request_id="in-1", sku_code="LJ-250-GRN", warehouse_code="MAIN", quantity=7
    )
    replies = await asyncio.gather(
        *(inventory_stub.ReceiveStock(request, metadata=KEEPER) for _ in range(20))
    )
    assert len({r.lot.lot_id for r in replies}) == 1
    assert all(r.level.on_hand == 7 for r in replies)
    assert await count(inventory.database, stock_movements) == 1


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"quantity": 0}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
        ({"quantity": -4}, grpc.StatusCode.INVALID_ARGUMENT, "quantity"),
        ({"sku_code": "NOPE"}, grpc.StatusCode.NOT_FOUND, "sku_code"),
        ({"warehouse_code": "NOWHERE"}, grpc.StatusCode.NOT_FOUND, "warehouse_code"),
        ({"warehouse_code": "  "}, grpc.StatusCode.INVALID_ARGUMENT, "warehouse_code"),
        ({"request_id": "  "}, grpc.StatusCode.INVALID_ARGUMENT, "request_id"),
    ],
)
async def test_receive_stock_bad_input_writes_nothing(inventory_stub, inventory, overrides, code, field):
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    fields: dict[str, object] = {
        "request_id": "in-x",
        "sku_code": "LJ-250-GRN",
        "warehouse_code": "MAIN",
        "quantity": 3,
    }
    fields.update(overrides)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.ReceiveStock(pb.ReceiveStockRequest(**fields), metadata=KEEPER)  # type: ignore[arg-type]
    assert exc.value.code() == code
    assert field in field_violations(exc.value)
    assert await count(inventory.database, stock_movements) == 0
    assert await count(inventory.database, stock_levels) == 0
    # Only the SKU registration's key is stored: the refused request left no trace.
    assert await count(inventory.database, kit.idempotency) == 1


async def test_only_stock_keepers_move_stock_inv_18(inventory_stub, inventory):
    """INV-18: only stock keepers move stock in the warehouse."""
    await inventory_stub.RegisterSku(sku_request(), metadata=KEEPER)
    request = pb.ReceiveStockRequest(
        request_id="in-1", sku_code="LJ-250-GRN", warehouse_code="MAIN", quantity=3
    )
    for role in ("integrator", "customer_service", "warehouse_supervisor"):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await inventory_stub.ReceiveStock(request, metadata=auth(role))
        assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await count(inventory.database, stock_movements) == 0


async def test_missing_or_forged_identity_is_unauthenticated(inventory_stub):
    forged = identity.mint_token(
        "mallory", ["stock_keeper"], secret="not-the-suite-key-but-long-enough-0123456789"
    )
    for metadata in ([], [("authorization", f"Bearer {forged}")], [("authorization", "Bearer not.a.jwt")]):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await inventory_stub.GetSku(pb.GetSkuRequest(sku_code="X"), metadata=metadata)
        assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_stock_levels_of_unknown_sku_is_not_found(inventory_stub):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.GetStockLevels(pb.GetStockLevelsRequest(sku_code="NOPE"), metadata=KEEPER)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
