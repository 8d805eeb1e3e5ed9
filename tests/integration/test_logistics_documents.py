"""A closed wave's printed documents through the gateway, over the real orders, inventory and logistics
services (LOG-2: pick list, sort list, labels, packing slips; LOG-5: labels reprinted with the tracking
number and the carrier's hand-over manifest). The PDFs are read back with pypdf, the CSV with csv."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from pypdf import PdfReader
from shop.inventory.v1 import inventory_pb2 as inv
from shop.logistics.v1 import logistics_pb2 as lg
from shop.logistics.v1 import logistics_pb2_grpc
from shop.orders.v1 import orders_pb2 as pb

from libs.grpc_client import open_channel
from services.gateway.app import create_app
from services.gateway.upstreams import Upstreams
from tests.conftest import token_for
from tests.integration.test_inventory_stock_flow import SUPERVISOR, stock
from tests.integration.test_logistics_floor import (
    CLERK,
    PACKER,
    SKU,
    VERIFIER,
    carriers,
    released,
    to_logistics,
)
from tests.integration.test_orders_flow import CS, order_request

MM = 72 / 25.4
BIN = "A-01-01"
TRACKING = "SF1234567890"


def as_role(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role)}"}


HTTP_CLERK = as_role("logistics_clerk")


@pytest.fixture
def logistics_stub(logistics) -> logistics_pb2_grpc.LogisticsServiceStub:
    return logistics_pb2_grpc.LogisticsServiceStub(logistics.channel)


@pytest.fixture
async def http(logistics) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway over the logistics server: its routes come from the contract alone."""
    channel = open_channel(logistics.target)
    app = create_app()
    app.state.upstreams = Upstreams(channels={"logistics": channel}, health_channels={})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield client
    finally:
        await channel.close()


@dataclass(frozen=True)
class Wave:
    wave_id: str
    merged: lg.Parcel  # TM-1 and TM-2 of one buyer and address: one parcel
    alone: lg.Parcel  # TM-3 with a buyer's message: a parcel of its own
    noted: str  # TM-3's order id


async def wave_of(
    orders_stub, orders_service, inventory_stub, logistics_stub, logistics, *, close: bool = True
) -> Wave:
    """Three released orders in one wave, stocked from a lot in a bin and one not put away yet."""
    await carriers(logistics_stub)
    await inventory_stub.CreateBin(
        inv.CreateBinRequest(request_id="bin-1", warehouse_code="MAIN", bin_code=BIN), metadata=SUPERVISOR
    )
    await stock(inventory_stub, quantity=3, request_id="lot-binned", bin_code=BIN)
    await stock(inventory_stub, quantity=10, request_id="lot-unbinned")
    first, _, noted = await released(
        orders_stub,
        order_request("TM-1", quantity=1),
        order_request("TM-2", quantity=2),
        order_request("TM-3", quantity=1, message="please wrap it as a gift"),
    )
    await to_logistics(orders_service, logistics, set[uuid.UUID]())
    (shipment,) = (
        await logistics_stub.FindShipments(lg.FindShipmentsRequest(order_id=first), metadata=CLERK)
    ).shipments
    if close:
        await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=shipment.wave_id), metadata=CLERK)
    found = await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=shipment.wave_id), metadata=CLERK)
    parcels = sorted(found.parcels, key=lambda p: len(p.shipments))
    alone, merged = parcels or (lg.Parcel(), lg.Parcel())  # an open wave has no parcels yet
    return Wave(shipment.wave_id, merged, alone, noted)


async def dispatch(logistics_stub, parcel_id: str) -> None:
    """Scans, weighs and hands the merged parcel (3 units) to SF (LOG-3 .. LOG-5)."""
    await logistics_stub.StartVerification(
        lg.StartVerificationRequest(label_barcode=parcel_id, packing_slip_barcode=parcel_id),
        metadata=VERIFIER,
    )
    for n in range(3):
        await logistics_stub.ScanItem(
            lg.ScanItemRequest(parcel_id=parcel_id, barcode=SKU, request_id=f"scan-{n}"), metadata=VERIFIER
        )
    await logistics_stub.PackParcel(
        lg.PackParcelRequest(parcel_id=parcel_id, weight_grams=2300), metadata=PACKER
    )
    await logistics_stub.DispatchParcel(
        lg.DispatchParcelRequest(parcel_id=parcel_id, tracking_number=TRACKING), metadata=CLERK
    )


async def document(http: httpx.AsyncClient, path: str, **params: str) -> httpx.Response:
    return await http.get(path, params=params, headers=HTTP_CLERK)


def pdf(answer: httpx.Response) -> PdfReader:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(answer.content))


def texts(reader: PdfReader) -> list[str]:
    """Each page's text without whitespace: table cells and wrapped lines come back split anywhere."""
    return [re.sub(r"\s+", "", page.extract_text()) for page in reader.pages]


def size_mm(reader: PdfReader, page: int) -> tuple[float, float]:
    box = reader.pages[page].mediabox
    return round(float(box.width) / MM), round(float(box.height) / MM)


def assert_pick_rows(page: str, picks: lg.GetPickListResponse) -> None:
    """The printed pick list shows GetPickList's rows in its order (#, bin, SKU, lot, quantity, the SKU's
    total), then its total units; a lot not put away yet is sent to no bin."""
    totals = {t.sku_code: t.quantity for t in picks.totals}
    rows = [
        f"{i}{line.bin_code or '未上架notputaway'}{line.sku_code}{line.lot_label}{line.quantity}"
        f"{totals[line.sku_code]}"
        for i, line in enumerate(picks.lines, start=1)
    ]
    positions = [page.index(row) for row in rows]  # ValueError if a row is missing
    assert positions == sorted(positions)
    assert f"合计Total{len(totals)}SKU{sum(totals.values())}" in page


def refused_fields(answer: httpx.Response) -> list[str]:
    return [f["field"] for f in answer.json()["error"]["fields"]]


async def test_log_2_a_closed_wave_prints_the_pick_list_sort_list_labels_and_slips_as_pdf(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics, http
):
    """LOG-2: the printed pick list walks the same bins and lots as GetPickList, with its totals; the sort
    list, labels (100 x 150 mm, in print order, the parcel id before dispatch) and packing slips (channel
    order ids, lines, notes) cover the wave's parcels."""
    wave = await wave_of(orders_stub, orders_service, inventory_stub, logistics_stub, logistics)
    base = f"/v1/logistics/waves/{wave.wave_id}/documents"
    picks = await logistics_stub.GetPickList(lg.GetPickListRequest(wave_id=wave.wave_id), metadata=CLERK)
    # Walking order: the lot not put away yet first, as GetPickList sorts it, then the bin.
    assert [(line.bin_code, line.quantity) for line in picks.lines] == [("", 1), (BIN, 3)]
    assert [(t.sku_code, t.quantity) for t in picks.totals] == [(SKU, 4)]

    (page,) = texts(pdf(await document(http, f"{base}/pick-list")))
    assert wave.wave_id in page
    assert_pick_rows(page, picks)
    # Orders, parcels, units and SKUs, under their headings.
    assert "订单Orders包裹Parcels件数UnitsSKU数SKUs3241" in page

    (sorting,) = texts(pdf(await document(http, f"{base}/sort-list")))
    for entry in picks.sort_list:
        assert entry.parcel_id in sorting and all(order_id in sorting for order_id in entry.order_ids)

    labels = pdf(await document(http, f"{base}/labels"))
    assert len(labels.pages) == 2
    assert all(size_mm(labels, i) == (100, 150) for i in range(2))
    in_print_order = sorted([wave.merged, wave.alone], key=lambda p: p.print_seq)
    for text, parcel in zip(texts(labels), in_print_order, strict=True):
        assert parcel.parcel_id in text and "顺丰速运" in text
        assert "138****5678" in text and "13812345678" not in text  # a label hides the phone number

    slips = texts(pdf(await document(http, f"{base}/packing-slips")))
    assert len(slips) == 2
    merged_slip, alone_slip = sorted(slips, key=lambda text: wave.alone.parcel_id in text)
    # Each order with its channel order id; the lines by SKU (the warehouse knows no item names).
    for slip, parcel in ((merged_slip, wave.merged), (alone_slip, wave.alone)):
        assert all(f"{s.order_id}{s.channel_order_id}" in slip for s in parcel.shipments)
    assert f"1{SKU}—3合计Total3" in merged_slip and f"1{SKU}—1合计Total1" in alone_slip
    assert "pleasewrapitasagift/giftwrapnoted" in alone_slip and "Notes" not in merged_slip


async def test_log_5_a_dispatched_parcel_reprints_with_its_tracking_number_and_is_on_the_manifest(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics, http
):
    """LOG-5: once dispatched, the parcel's label carries the tracking number; SF's hand-over manifest, as
    PDF by default or as CSV, lists the dispatched parcel and no other. Before any dispatch the manifest
    is refused naming carrier_code."""
    wave = await wave_of(orders_stub, orders_service, inventory_stub, logistics_stub, logistics)
    manifest = f"/v1/logistics/waves/{wave.wave_id}/manifests/sf"
    early = await document(http, manifest)
    assert early.status_code == 422, early.text
    assert refused_fields(early) == ["carrier_code"]

    await dispatch(logistics_stub, wave.merged.parcel_id)
    label = pdf(await document(http, f"/v1/logistics/parcels/{wave.merged.parcel_id}/documents/label"))
    (text,) = texts(label)
    assert size_mm(label, 0) == (100, 150)
    assert TRACKING in text and wave.merged.parcel_id in text and "2300g" in text

    reprinted = await document(http, f"/v1/logistics/parcels/{wave.alone.parcel_id}/documents/packing-slip")
    (slip,) = texts(pdf(reprinted))
    assert "TM-3" in slip and wave.alone.parcel_id in slip

    (signed,) = texts(pdf(await document(http, manifest)))
    assert TRACKING in signed and wave.merged.parcel_id in signed and wave.alone.parcel_id not in signed
    as_csv = await document(http, manifest, format="csv")
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert [(r["tracking_number"], r["parcel_id"], r["weight_grams"]) for r in rows] == [
        (TRACKING, wave.merged.parcel_id, "2300")
    ]
    # ZTO's courier has nothing to take from this wave.
    assert (await document(http, f"/v1/logistics/waves/{wave.wave_id}/manifests/zto")).status_code == 422


async def test_log_2_a_withdrawn_order_is_not_printed(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics, http
):
    """LOG-2 with ORD-5: the order cancelled after its wave closed leaves the pick list, the labels and
    the slips; its parcel's papers are no longer printed."""
    wave = await wave_of(orders_stub, orders_service, inventory_stub, logistics_stub, logistics)
    await orders_stub.CancelOrder(
        pb.CancelOrderRequest(order_id=wave.noted, reason="buyer asked"), metadata=CS
    )
    base = f"/v1/logistics/waves/{wave.wave_id}/documents"
    picks = await logistics_stub.GetPickList(lg.GetPickListRequest(wave_id=wave.wave_id), metadata=CLERK)
    assert sum(line.quantity for line in picks.lines) == 3
    (page,) = texts(pdf(await document(http, f"{base}/pick-list")))
    assert_pick_rows(page, picks)
    assert "订单Orders包裹Parcels件数UnitsSKU数SKUs2131" in page
    labels = texts(pdf(await document(http, f"{base}/labels")))
    assert len(labels) == 1 and wave.merged.parcel_id in labels[0]
    (slip,) = texts(pdf(await document(http, f"{base}/packing-slips")))
    assert "TM-3" not in slip
    reprint = await document(http, f"/v1/logistics/parcels/{wave.alone.parcel_id}/documents/label")
    assert reprint.status_code == 422 and refused_fields(reprint) == ["parcel_id"]


async def test_log_2_documents_are_refused_naming_the_field(
    orders_stub, orders_service, inventory_stub, inventory, logistics_stub, logistics, http
):
    """LOG-2, LOG-5: an unknown kind or format is 400 naming it with the allowed values; an open wave is
    FAILED_PRECONDITION (422) until it closes; an unknown wave or parcel is 404."""
    wave = await wave_of(orders_stub, orders_service, inventory_stub, logistics_stub, logistics, close=False)
    base = f"/v1/logistics/waves/{wave.wave_id}"
    bad_kind = await document(http, f"{base}/documents/invoice")
    assert bad_kind.status_code == 400 and refused_fields(bad_kind) == ["kind"]
    assert "pick-list" in bad_kind.json()["error"]["message"]
    open_wave = await document(http, f"{base}/documents/pick-list")
    assert open_wave.status_code == 422, open_wave.text
    assert open_wave.json()["error"]["reason"] == "WAVE_NOT_CLOSED"
    unknown = await document(http, "/v1/logistics/waves/MAIN-20000101-1030/documents/labels")
    assert unknown.status_code == 404 and refused_fields(unknown) == ["wave_id"]
    assert (await document(http, "/v1/logistics/parcels/nope/documents/label")).status_code == 404

    await logistics_stub.CloseWave(lg.CloseWaveRequest(wave_id=wave.wave_id), metadata=CLERK)
    bad_format = await document(http, f"{base}/manifests/sf", format="xlsx")
    assert bad_format.status_code == 400 and refused_fields(bad_format) == ["format"]
    assert "csv" in bad_format.json()["error"]["message"]
    closed = await logistics_stub.GetWave(lg.GetWaveRequest(wave_id=wave.wave_id), metadata=CLERK)
    bad_parcel_kind = await document(
        http, f"/v1/logistics/parcels/{closed.parcels[0].parcel_id}/documents/labels"
    )
    assert bad_parcel_kind.status_code == 400 and refused_fields(bad_parcel_kind) == ["kind"]
    assert (await document(http, f"{base}/manifests/yto")).status_code == 404
    # Only the roles of the contract print: a buyer-facing role is refused.
    refused = await http.get(f"{base}/documents/pick-list", headers=as_role("customer_service"))
    assert refused.status_code == 403
