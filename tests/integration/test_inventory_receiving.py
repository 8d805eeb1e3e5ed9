"""Receiving through the real inventory gRPC server: delivery note, count, QC, two signatures, posting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from shop.inventory.v1 import events_pb2
from shop.inventory.v1 import inventory_pb2 as pb

from services.inventory.store.reconciliation import discrepancies
from services.inventory.store.tables import kit, lots, receipts, stock_movements
from tests.conftest import auth
from tests.integration.test_inventory_rpc import count, field_violations, sku_request

KEEPER = auth("stock_keeper", "keeper-1")
KEEPER_2 = auth("stock_keeper", "keeper-2")
SUPERVISOR = auth("warehouse_supervisor", "boss-1")
BOTH_ROLES = auth("stock_keeper", "keeper-1")  # same person as KEEPER
QC = auth("qc_inspector", "qc-1")
PROMOTER = auth("promoter", "photo-1")


async def register(stub, sku: str, style: str) -> None:
    await stub.RegisterSku(
        sku_request(f"reg-{sku}", sku_code=sku, style_number=style, colour=sku[-1], barcode=f"BC-{sku}"),
        metadata=KEEPER,
    )


async def new_receipt(stub, note="DN-1", lines=(("TEE-R", 100), ("TEE-B", 20))) -> pb.Receipt:
    reply = await stub.CreateReceipt(
        pb.CreateReceiptRequest(
            request_id=f"rc-{note}",
            supplier_code="SUP-1",
            delivery_note_number=note,
            lines=[pb.ExpectedLine(sku_code=s, expected_quantity=q) for s, q in lines],
        ),
        metadata=KEEPER,
    )
    return reply.receipt


async def counted(stub, receipt_id, *counts: int) -> pb.Receipt:
    reply = await stub.RecordReceivedCounts(
        pb.RecordReceivedCountsRequest(
            receipt_id=receipt_id,
            counts=[pb.ReceivedCount(line_no=i + 1, received_quantity=q) for i, q in enumerate(counts)],
        ),
        metadata=KEEPER,
    )
    return reply.receipt


async def inspect(stub, receipt_id, request_id, *results: tuple[int, Any, int, int]) -> pb.Receipt:
    reply = await stub.RecordInspection(
        pb.RecordInspectionRequest(
            request_id=request_id,
            receipt_id=receipt_id,
            results=[
                pb.InspectionResult(line_no=n, round=r, inspected_units=i, failed_units=f)
                for n, r, i, f in results
            ],
        ),
        metadata=QC,
    )
    return reply.receipt


async def sign_both(stub, receipt_id) -> None:
    await stub.SignReceipt(pb.SignReceiptRequest(receipt_id=receipt_id, role="stock_keeper"), metadata=KEEPER)
    await stub.SignReceipt(
        pb.SignReceiptRequest(receipt_id=receipt_id, role="warehouse_supervisor"), metadata=SUPERVISOR
    )


async def events(inventory, topic: str) -> list[bytes]:
    async with inventory.database.connection() as conn:
        rows = (await conn.execute(sa.select(kit.outbox.c.payload).where(kit.outbox.c.topic == topic))).all()
    return [r.payload for r in rows]


@pytest.fixture
async def skus(inventory_stub):
    await register(inventory_stub, "TEE-R", "TEE")
    await register(inventory_stub, "TEE-B", "TEE")
    await register(inventory_stub, "CAP-G", "CAP")


async def test_full_receiving_flow_inv_3_inv_4_inv_5_inv_6_inv_7(inventory_stub, inventory, skus):
    """A delivery from note to stock: variance kept, sampling decides, two people sign, lots are made."""
    receipt = await new_receipt(inventory_stub)
    assert [line.verdict for line in receipt.lines] == [pb.QC_VERDICT_AWAITING_COUNT] * 2
    receipt = await counted(inventory_stub, receipt.receipt_id, 98, 20)
    assert [(line.variance, line.round1_plan) for line in receipt.lines] == [(-2, 10), (0, 2)]
    # Line 1: one failure in round 1, then 2 in round 2 -> 17/20 = 85% -> inspect all; line 2 all pass.
    receipt = await inspect(
        inventory_stub,
        receipt.receipt_id,
        "qc-1",
        (1, pb.INSPECTION_STAGE_ROUND_1, 10, 1),
        (2, pb.INSPECTION_STAGE_ROUND_1, 2, 0),
    )
    assert [line.verdict for line in receipt.lines] == [
        pb.QC_VERDICT_AWAITING_ROUND_2,
        pb.QC_VERDICT_ACCEPTED,
    ]
    receipt = await inspect(
        inventory_stub, receipt.receipt_id, "qc-2", (1, pb.INSPECTION_STAGE_ROUND_2, 10, 2)
    )
    assert receipt.lines[0].verdict == pb.QC_VERDICT_AWAITING_FULL_INSPECTION
    receipt = await inspect(inventory_stub, receipt.receipt_id, "qc-3", (1, pb.INSPECTION_STAGE_FULL, 98, 6))
    assert (receipt.lines[0].accepted_units, receipt.lines[0].defective_units) == (92, 6)

    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.PostReceipt(
            pb.PostReceiptRequest(request_id="p-1", receipt_id=receipt.receipt_id), metadata=KEEPER
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "signatures" in field_violations(exc.value)
    await sign_both(inventory_stub, receipt.receipt_id)
    posted = await inventory_stub.PostReceipt(
        pb.PostReceiptRequest(request_id="p-1", receipt_id=receipt.receipt_id), metadata=KEEPER
    )
    assert posted.receipt.status == pb.RECEIPT_STATUS_POSTED
    again = await inventory_stub.PostReceipt(
        pb.PostReceiptRequest(request_id="p-1", receipt_id=receipt.receipt_id), metadata=KEEPER
    )
    assert again == posted

    levels = await inventory_stub.GetStockLevels(pb.GetStockLevelsRequest(sku_code="TEE-R"), metadata=KEEPER)
    assert {(lv.warehouse_code, lv.on_hand, lv.available) for lv in levels.levels} == {
        ("MAIN", 92, 92),
        ("DEFECTIVE", 6, 0),
    }
    assert levels.available == 92  # the defective-goods warehouse's units are not for sale (INV-2)
    lot_list = await inventory_stub.ListLots(
        pb.ListLotsRequest(sku_code="TEE-R", warehouse_code="MAIN"), metadata=KEEPER
    )
    [lot] = lot_list.lots
    assert lot.bin_code == "" and lot.label_id.startswith("TEE-R-")

    [notice_bytes] = await events(inventory, "shop.inventory.v1.stock_received")
    notice = events_pb2.StockReceived.FromString(notice_bytes)
    assert {(line.sku_code, line.accepted, line.defective) for line in notice.lines} == {
        ("TEE-R", 92, 6),
        ("TEE-B", 20, 0),
    }
    [new_style] = [
        events_pb2.NewStyleReceived.FromString(b)
        for b in await events(inventory, "shop.inventory.v1.new_style_received")
    ]
    assert new_style.style_number == "TEE"
    styles = await inventory_stub.ListNewStyles(pb.ListNewStylesRequest(), metadata=PROMOTER)
    assert [(s.style_number, s.overdue) for s in styles.styles] == [("TEE", False)]
    due = styles.styles[0].photos_due_at.ToDatetime(tzinfo=UTC) - styles.styles[0].received_at.ToDatetime(
        tzinfo=UTC
    )
    assert due == timedelta(days=3)
    published = await inventory_stub.MarkStylePublished(
        pb.MarkStylePublishedRequest(style_number="TEE"), metadata=PROMOTER
    )
    assert published.style.HasField("published_at")
    async with inventory.database.connection() as conn:
        assert await discrepancies(conn) == []


async def test_second_receipt_of_a_style_is_not_new_inv_7(inventory_stub, inventory, skus):
    for note in ("DN-1", "DN-2"):
        receipt = await new_receipt(inventory_stub, note, lines=(("TEE-R", 5),))
        await counted(inventory_stub, receipt.receipt_id, 5)
        await inspect(
            inventory_stub, receipt.receipt_id, f"qc-{note}", (1, pb.INSPECTION_STAGE_ROUND_1, 1, 0)
        )
        await sign_both(inventory_stub, receipt.receipt_id)
        await inventory_stub.PostReceipt(
            pb.PostReceiptRequest(request_id=f"p-{note}", receipt_id=receipt.receipt_id), metadata=KEEPER
        )
    assert len(await events(inventory, "shop.inventory.v1.new_style_received")) == 1
    assert len(await events(inventory, "shop.inventory.v1.stock_received")) == 2


async def test_failed_sampling_rejects_the_whole_delivery_inv_4(inventory_stub, inventory, skus):
    receipt = await new_receipt(inventory_stub, lines=(("TEE-R", 100), ("CAP-G", 10)))
    await counted(inventory_stub, receipt.receipt_id, 100, 10)
    # CAP-G line passes; TEE-R: 13 of 20 pass (65%) -> the whole delivery goes back.
    await inspect(
        inventory_stub,
        receipt.receipt_id,
        "qc-1",
        (1, pb.INSPECTION_STAGE_ROUND_1, 10, 4),
        (2, pb.INSPECTION_STAGE_ROUND_1, 1, 0),
    )
    receipt = await inspect(
        inventory_stub, receipt.receipt_id, "qc-2", (1, pb.INSPECTION_STAGE_ROUND_2, 10, 3)
    )
    assert receipt.delivery_rejected
    await sign_both(inventory_stub, receipt.receipt_id)
    posted = await inventory_stub.PostReceipt(
        pb.PostReceiptRequest(request_id="p", receipt_id=receipt.receipt_id), metadata=KEEPER
    )
    assert posted.receipt.status == pb.RECEIPT_STATUS_REJECTED
    assert await count(inventory.database, lots) == 0
    assert await count(inventory.database, stock_movements) == 0
    [rejected] = [
        events_pb2.DeliveryRejected.FromString(b)
        for b in await events(inventory, "shop.inventory.v1.delivery_rejected")
    ]
    assert list(rejected.failed_sku_codes) == ["TEE-R"]


async def test_two_signatures_from_two_people_inv_5(inventory_stub, skus):
    receipt = await new_receipt(inventory_stub)
    await inventory_stub.SignReceipt(
        pb.SignReceiptRequest(receipt_id=receipt.receipt_id, role="stock_keeper"), metadata=KEEPER
    )
    same_person_as_supervisor = auth("warehouse_supervisor", "keeper-1")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.SignReceipt(
            pb.SignReceiptRequest(receipt_id=receipt.receipt_id, role="warehouse_supervisor"),
            metadata=same_person_as_supervisor,
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "signature" in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.SignReceipt(
            pb.SignReceiptRequest(receipt_id=receipt.receipt_id, role="stock_keeper"), metadata=KEEPER_2
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.SignReceipt(
            pb.SignReceiptRequest(receipt_id=receipt.receipt_id, role="warehouse_supervisor"),
            metadata=KEEPER_2,
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_posting_waits_for_inspection_and_posted_receipts_are_immutable(inventory_stub, skus):
    receipt = await new_receipt(inventory_stub, lines=(("TEE-R", 10),))
    await counted(inventory_stub, receipt.receipt_id, 10)
    await sign_both(inventory_stub, receipt.receipt_id)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.PostReceipt(
            pb.PostReceiptRequest(request_id="p", receipt_id=receipt.receipt_id), metadata=KEEPER
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "lines" in field_violations(exc.value)
    await inspect(inventory_stub, receipt.receipt_id, "qc", (1, pb.INSPECTION_STAGE_ROUND_1, 1, 0))
    await inventory_stub.PostReceipt(
        pb.PostReceiptRequest(request_id="p2", receipt_id=receipt.receipt_id), metadata=KEEPER
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await counted(inventory_stub, receipt.receipt_id, 9)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.PostReceipt(
            pb.PostReceiptRequest(request_id="p3", receipt_id=receipt.receipt_id), metadata=KEEPER
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_unposted_receipts_from_an_earlier_day_are_overdue_inv_5(inventory_stub, inventory, skus):
    old = await new_receipt(inventory_stub, "DN-OLD", lines=(("TEE-R", 1),))
    await new_receipt(inventory_stub, "DN-NEW", lines=(("TEE-R", 1),))
    async with inventory.database.transaction() as conn:
        await conn.execute(
            receipts.update()
            .where(receipts.c.delivery_note_number == "DN-OLD")
            .values(created_at=datetime.now(UTC) - timedelta(days=1, hours=1))
        )
    overdue = await inventory_stub.ListOverdueReceipts(pb.ListOverdueReceiptsRequest(), metadata=SUPERVISOR)
    assert [r.receipt_id for r in overdue.receipts] == [old.receipt_id]
    assert overdue.receipts[0].overdue


@pytest.mark.parametrize(
    ("request_", "field", "code"),
    [
        (
            pb.CreateReceiptRequest(
                request_id="r",
                supplier_code="",
                delivery_note_number="D",
                lines=[pb.ExpectedLine(sku_code="TEE-R", expected_quantity=1)],
            ),
            "supplier_code",
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.CreateReceiptRequest(request_id="r", supplier_code="S", delivery_note_number="D"),
            "lines",
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.CreateReceiptRequest(
                request_id="r",
                supplier_code="S",
                delivery_note_number="D",
                lines=[pb.ExpectedLine(sku_code="NOPE", expected_quantity=1)],
            ),
            "lines[0].sku_code",
            grpc.StatusCode.NOT_FOUND,
        ),
        (
            pb.CreateReceiptRequest(
                request_id="r",
                supplier_code="S",
                delivery_note_number="D",
                lines=[pb.ExpectedLine(sku_code="TEE-R", expected_quantity=-1)],
            ),
            "lines[0].expected_quantity",
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.CreateReceiptRequest(
                request_id="r",
                supplier_code="S",
                delivery_note_number="D",
                warehouse_code="DEFECTIVE",
                lines=[pb.ExpectedLine(sku_code="TEE-R", expected_quantity=1)],
            ),
            "warehouse_code",
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
    ],
)
async def test_bad_delivery_notes_name_the_field_and_write_nothing(
    inventory_stub, inventory, skus, request_, field, code
):
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CreateReceipt(request_, metadata=KEEPER)
    assert exc.value.code() == code
    assert field in field_violations(exc.value)
    assert await count(inventory.database, receipts) == 0


async def test_same_delivery_note_registered_once(inventory_stub, skus):
    await new_receipt(inventory_stub, "DN-1")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.CreateReceipt(
            pb.CreateReceiptRequest(
                request_id="other", supplier_code="SUP-1", delivery_note_number="DN-1",
                lines=[pb.ExpectedLine(sku_code="TEE-R", expected_quantity=1)],
            ),
            metadata=KEEPER,
        )  # fmt: skip
    assert exc.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "delivery_note_number" in field_violations(exc.value)


async def test_inspection_out_of_plan_is_refused_and_roles_hold(inventory_stub, skus):
    receipt = await new_receipt(inventory_stub, lines=(("TEE-R", 100),))
    await counted(inventory_stub, receipt.receipt_id, 100)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inspect(inventory_stub, receipt.receipt_id, "qc", (1, pb.INSPECTION_STAGE_ROUND_1, 5, 0))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "results[0].inspected_units" in field_violations(exc.value)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inventory_stub.RecordInspection(
            pb.RecordInspectionRequest(
                request_id="x", receipt_id=receipt.receipt_id,
                results=[pb.InspectionResult(line_no=1, round=pb.INSPECTION_STAGE_ROUND_1, inspected_units=10)],
            ),
            metadata=KEEPER,
        )  # fmt: skip
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await inspect(inventory_stub, receipt.receipt_id, "qc-9", (7, pb.INSPECTION_STAGE_ROUND_1, 10, 0))
    assert "results[0].line_no" in field_violations(exc.value)
