"""A retried mutating RPC gets its first answer and changes nothing (AIP-155, ``libs.policy``).

The RPCs are enumerated from the contracts: every RPC of ``shop.inventory.v1.InventoryService``,
``shop.orders.v1.OrdersService`` and ``shop.logistics.v1.LogisticsService`` whose declared idempotency is
not READ_ONLY. The dead-letter RPC
(``shop.ops.v1`` ReplayDeadLetter) is covered by ``test_event_backbone`` and left out here; so are the other
services' RPCs.

One scenario builds state step by step through real inventory and orders gRPC servers over their own
databases (the orders service calling the real inventory service): warehouse, bins, SKUs, stock, an access
grant, put-away, reservations, holds, a receipt from delivery note to posting, transfers, loans, a count,
packing use, replenishment, a supplier return, then orders with their amendments, reviews, releases,
refunds, cancellation and promotions, the warehouse floor (carriers, wave schedule, an exchange shipment
closed into its wave, scanned, packed, dispatched, lost and its exception case handled), and finally the
day's close. Each step is sent once with its own
``request_id``, then

1. sent again: the answer equals the first, byte for byte (it is the stored answer, replayed);
2. the retry changed nothing: every table of both databases is compared row by row before and after,
   except ``idempotency_keys``, ``outbox``, ``inbox`` and ``alembic_version``, whose delivery bookkeeping
   is not the RPC's to keep; of ``idempotency_keys`` and ``outbox`` the row counts are compared (a retry
   makes no claim and publishes no event);
3. the same ``request_id`` with a different request is refused ALREADY_EXISTS naming ``request_id``, and
   changes nothing either.

A mutating RPC added to the contracts without a step here fails ``test_the_scenario_covers_every_mutating_rpc``.
Steps name the rule they exercise (INV-n, ORD-n) in their failure messages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import sqlalchemy as sa
from google.protobuf import message_factory, text_format
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from shop.inventory.v1 import inventory_pb2 as pb
from shop.logistics.v1 import logistics_pb2 as lg
from shop.orders.v1 import orders_pb2 as opb

from libs import identity
from libs.business_time import business_day
from libs.db import Database
from libs.policy import REQUEST_ID, full_method_name, policy_of_method
from services.logistics.domain.shipments import parcel_id_for
from tests.conftest import auth
from tests.integration.conftest import RunningService
from tests.integration.test_inventory_counts import A_MONDAY
from tests.integration.test_inventory_planning import BUYER, TOMORROW
from tests.integration.test_inventory_receiving import QC
from tests.integration.test_inventory_rpc import field_violations, sku_request
from tests.integration.test_inventory_stock_flow import KEEPER, SALES, SHOP, SUPERVISOR
from tests.integration.test_inventory_transfers import KEEPER_B
from tests.integration.test_orders_amendments import AFTER_SALES, OTHER_ADDRESS
from tests.integration.test_orders_flow import ADDRESS, CS, LEAD, order_request, paid_at, yuan
from tests.integration.test_orders_promotions import PROMOTER

INVENTORY = pb.DESCRIPTOR.services_by_name["InventoryService"]
ORDERS = opb.DESCRIPTOR.services_by_name["OrdersService"]
LOGISTICS = lg.DESCRIPTOR.services_by_name["LogisticsService"]
SERVICES: tuple[ServiceDescriptor, ...] = (INVENTORY, ORDERS, LOGISTICS)

# A porter: not a stock keeper, so a stock keeper's approval lets them move goods (INV-18).
PORTER_ID = "porter-1"
PORTER = auth("logistics_clerk", PORTER_ID)
CLERK = auth("logistics_clerk", "clerk-1")
VERIFIER = auth("verifier", "verifier-1")
PACKER = auth("packer", "packer-1")
CARRIER_FEED = auth("integrator", "sf-feed")

# Left out of the row comparison; the first two are compared by their number of rows.
NOT_COMPARED = frozenset({"idempotency_keys", "outbox", "inbox", "alembic_version"})
COUNTED = ("idempotency_keys", "outbox")

Metadata = Sequence[tuple[str, str]]
Answers = dict[str, Any]  # step label -> that step's first answer
Snapshot = dict[str, tuple[str, ...]]  # "database.table" -> its rows as text, sorted


@dataclass(frozen=True)
class Step:
    """One call of the scenario: ``build`` makes the request (without its request_id) from earlier answers."""

    label: str
    method: MethodDescriptor
    caller: Metadata
    build: Callable[[Answers], Message]
    rules: str

    @property
    def name(self) -> str:
        return full_method_name(self.method)

    def describe(self) -> str:
        return f"{self.method.containing_service.name}.{self.method.name} [{self.label}] ({self.rules})"


def step(
    service: ServiceDescriptor,
    method: str,
    caller: Metadata,
    build: Callable[[Answers], Message],
    *,
    rules: str,
    label: str = "",
) -> Step:
    return Step(label or method, service.methods_by_name[method], caller, build, rules)


def in_inventory(method: str, caller: Metadata, build: Callable[[Answers], Message], **kw: str) -> Step:
    return step(INVENTORY, method, caller, build, **kw)


def in_orders(method: str, caller: Metadata, build: Callable[[Answers], Message], **kw: str) -> Step:
    return step(ORDERS, method, caller, build, **kw)


def in_logistics(method: str, caller: Metadata, build: Callable[[Answers], Message], **kw: str) -> Step:
    return step(LOGISTICS, method, caller, build, **kw)


def exchange_parcel(answers: Answers) -> str:
    """The parcel the exchange shipment is packed in: the only one of its wave, first in print order."""
    return parcel_id_for(answers["CreateExchangeShipment"].shipment.wave_id, 1)


def case_id(answers: Answers) -> str:
    return str(answers["RecordTrackingEvents"].opened[0].case_id)


def timestamp(delta: timedelta) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(datetime.now(UTC) + delta)
    return out


def lines(*wanted: tuple[str, int]) -> list[pb.StockLine]:
    return [pb.StockLine(sku_code=sku, quantity=quantity) for sku, quantity in wanted]


def counted_one_short(answers: Answers) -> pb.RecordCountRequest:
    """Every line of the sheet counted as booked, except the first: one unit missing (INV-13)."""
    count = answers["PlanCount"].count
    found = [
        pb.CountedLine(line_no=line.line_no, counted=line.book_quantity - (1 if i == 0 else 0))
        for i, line in enumerate(count.lines)
    ]
    return pb.RecordCountRequest(count_id=count.count_id, lines=found)


def submitted(
    channel_order_id: str, *, paid: bool, quantity: int, message: str = ""
) -> opb.SubmitOrderRequest:
    request: opb.SubmitOrderRequest = order_request(
        channel_order_id, quantity=quantity, paid=paid, message=message, sku=TEA
    )
    return request


def order_id(answers: Answers, label: str = "SubmitOrder") -> str:
    value: str = answers[label].order.order_id
    return value


TEA, TEE, BOX = "RP-TEA", "RP-TEE-R", "RP-BOX"
SUPPLIER = "RP-SUP"
PROMOTION = "RP-LARGE"

SCENARIO: tuple[Step, ...] = (
    # --- places, items and stock -------------------------------------------------------------------
    in_inventory(
        "CreateWarehouse",
        SUPERVISOR,
        lambda a: pb.CreateWarehouseRequest(warehouse_code="RP-2", name="Replay 2", sellable=True),
        rules="INV-2",
    ),
    in_inventory(
        "CreateBin",
        SUPERVISOR,
        lambda a: pb.CreateBinRequest(warehouse_code="MAIN", bin_code="RP-A-01", description="aisle A"),
        rules="INV-2",
    ),
    in_inventory(
        "RegisterSku",
        KEEPER,
        lambda a: sku_request("", sku_code=TEA, style_number=TEA, category="tea", barcode="RP-0001"),
        rules="INV-1",
    ),
    in_inventory(
        "RegisterSku",
        KEEPER,
        label="register packing material",
        build=lambda a: sku_request(
            "",
            sku_code=BOX,
            style_number=BOX,
            colour="",
            size="",
            name="Replay box",
            category="packing",
            barcode="RP-0002",
            kind=pb.SKU_KIND_PACKING_MATERIAL,
        ),
        rules="INV-1",
    ),
    in_inventory(
        "RegisterSku",
        KEEPER,
        label="register apparel",
        build=lambda a: sku_request(
            "",
            sku_code=TEE,
            style_number="RP-TEE",
            colour="red",
            size="M",
            name="Replay tee",
            category="apparel",
            barcode="RP-0003",
        ),
        rules="INV-1",
    ),
    in_inventory(
        "ReceiveStock",
        KEEPER,
        lambda a: pb.ReceiveStockRequest(sku_code=TEA, warehouse_code="MAIN", quantity=50),
        rules="INV-14",
    ),
    in_inventory(
        "ReceiveStock",
        KEEPER,
        label="receive packing material",
        build=lambda a: pb.ReceiveStockRequest(sku_code=BOX, warehouse_code="MAIN", quantity=100),
        rules="INV-14",
    ),
    in_inventory(
        "GrantWarehouseAccess",
        KEEPER,
        lambda a: pb.GrantWarehouseAccessRequest(
            user_id=PORTER_ID,
            purpose=pb.ACCESS_PURPOSE_GOODS_HANDLING,
            valid_until=timestamp(timedelta(hours=2)),
        ),
        rules="INV-18",
    ),
    in_inventory(  # the porter moves stock on the keeper's approval
        "PutAway",
        PORTER,
        lambda a: pb.PutAwayRequest(
            lot_id=a["ReceiveStock"].lot.lot_id,
            warehouse_code="MAIN",
            from_bin_code="",
            to_bin_code="RP-A-01",
            quantity=5,
        ),
        rules="INV-6, INV-18",
    ),
    # --- reservations and holds ----------------------------------------------------------------------
    in_inventory(
        "ReserveStock",
        SHOP,
        lambda a: pb.ReserveStockRequest(order_id="RP-ORDER-1", lines=lines((TEA, 3))),
        rules="INV-10",
    ),
    in_inventory(  # a review batch's reservations: one order reserved, one refused for short stock
        "BatchReserveStock",
        SHOP,
        lambda a: pb.BatchReserveStockRequest(
            orders=[
                pb.ReserveStockRequest(order_id="RP-ORDER-B1", lines=lines((TEA, 1))),
                pb.ReserveStockRequest(order_id="RP-ORDER-B2", lines=lines((TEA, 100_000))),
            ]
        ),
        rules="INV-10, ORD-3",
    ),
    in_inventory(  # a closing wave keeps a shipment's lots (LOG-2)
        "AllocatePicks",
        PORTER,
        lambda a: pb.AllocatePicksRequest(
            shipments=[
                pb.ShipmentToPick(shipment_id="RP-SHIPMENT-1", order_id="RP-ORDER-1", lines=lines((TEA, 1)))
            ]
        ),
        rules="INV-11, LOG-2",
    ),
    in_inventory(
        "IssueReservation",
        KEEPER,
        lambda a: pb.IssueReservationRequest(
            order_id="RP-ORDER-1", shipment_id="RP-PARCEL-1", lines=lines((TEA, 1))
        ),
        rules="INV-11",
    ),
    in_inventory(
        "ReleaseReservation",
        SHOP,
        lambda a: pb.ReleaseReservationRequest(order_id="RP-ORDER-1", reason="cancelled by buyer"),
        rules="INV-10",
    ),
    in_inventory(
        "PlaceHold",
        SALES,
        lambda a: pb.PlaceHoldRequest(sku_code=TEA, quantity=2, customer_ref="VIP-RP"),
        rules="INV-9",
    ),
    in_inventory(
        "ReleaseHold",
        SALES,
        lambda a: pb.ReleaseHoldRequest(hold_id=a["PlaceHold"].hold.hold_id),
        rules="INV-9",
    ),
    # --- receiving: note, count, QC in three rounds, two signatures, posting -------------------------
    in_inventory(
        "RegisterSupplier",
        BUYER,
        lambda a: pb.RegisterSupplierRequest(
            supplier_code=SUPPLIER, name="Replay Mill", kind=pb.SUPPLIER_KIND_MANUFACTURER
        ),
        rules="INV-17",
    ),
    in_inventory(
        "CreateReceipt",
        KEEPER,
        lambda a: pb.CreateReceiptRequest(
            supplier_code=SUPPLIER,
            delivery_note_number="RP-DN-1",
            lines=[pb.ExpectedLine(sku_code=TEE, expected_quantity=20)],
        ),
        rules="INV-3",
    ),
    in_inventory(
        "RecordReceivedCounts",
        KEEPER,
        lambda a: pb.RecordReceivedCountsRequest(
            receipt_id=a["CreateReceipt"].receipt.receipt_id,
            counts=[pb.ReceivedCount(line_no=1, received_quantity=20)],
        ),
        rules="INV-3, INV-4",
    ),
    in_inventory(
        "RecordInspection",
        QC,
        lambda a: pb.RecordInspectionRequest(
            receipt_id=a["CreateReceipt"].receipt.receipt_id,
            results=[
                pb.InspectionResult(
                    line_no=1, round=pb.INSPECTION_STAGE_ROUND_1, inspected_units=2, failed_units=1
                )
            ],
        ),
        rules="INV-4",
    ),
    in_inventory(
        "RecordInspection",
        QC,
        label="inspect round 2",
        build=lambda a: pb.RecordInspectionRequest(
            receipt_id=a["CreateReceipt"].receipt.receipt_id,
            results=[
                pb.InspectionResult(
                    line_no=1, round=pb.INSPECTION_STAGE_ROUND_2, inspected_units=2, failed_units=0
                )
            ],
        ),
        rules="INV-4",
    ),
    in_inventory(
        "RecordInspection",
        QC,
        label="inspect all",
        build=lambda a: pb.RecordInspectionRequest(
            receipt_id=a["CreateReceipt"].receipt.receipt_id,
            results=[
                pb.InspectionResult(
                    line_no=1, round=pb.INSPECTION_STAGE_FULL, inspected_units=20, failed_units=3
                )
            ],
        ),
        rules="INV-4",
    ),
    in_inventory(
        "SignReceipt",
        KEEPER,
        lambda a: pb.SignReceiptRequest(
            receipt_id=a["CreateReceipt"].receipt.receipt_id, role="stock_keeper"
        ),
        rules="INV-5",
    ),
    in_inventory(  # the second signature, by another person
        "SignReceipt",
        SUPERVISOR,
        label="countersign",
        build=lambda a: pb.SignReceiptRequest(
            receipt_id=a["CreateReceipt"].receipt.receipt_id, role="warehouse_supervisor"
        ),
        rules="INV-5",
    ),
    in_inventory(
        "PostReceipt",
        KEEPER,
        lambda a: pb.PostReceiptRequest(receipt_id=a["CreateReceipt"].receipt.receipt_id),
        rules="INV-5, INV-6, INV-7",
    ),
    in_inventory(
        "MarkStylePublished",
        PROMOTER,
        lambda a: pb.MarkStylePublishedRequest(style_number="RP-TEE"),
        rules="INV-7",
    ),
    in_inventory(  # the 3 units QC found defective go back
        "ReturnToSupplier",
        KEEPER,
        lambda a: pb.ReturnToSupplierRequest(supplier_code=SUPPLIER, lines=lines((TEE, 3))),
        rules="INV-17",
    ),
    # --- transfers and loans -------------------------------------------------------------------------
    in_inventory(
        "RequestTransfer",
        KEEPER_B,
        lambda a: pb.RequestTransferRequest(
            from_warehouse_code="MAIN", to_warehouse_code="RP-2", lines=lines((TEA, 4))
        ),
        rules="INV-12",
    ),
    in_inventory(
        "ShipTransfer",
        KEEPER,
        lambda a: pb.ShipTransferRequest(transfer_id=a["RequestTransfer"].transfer.transfer_id),
        rules="INV-12",
    ),
    in_inventory(  # received by another keeper than the one who shipped
        "ReceiveTransfer",
        KEEPER_B,
        lambda a: pb.ReceiveTransferRequest(transfer_id=a["RequestTransfer"].transfer.transfer_id),
        rules="INV-12",
    ),
    in_inventory(
        "RequestTransfer",
        KEEPER_B,
        label="request a transfer to cancel",
        build=lambda a: pb.RequestTransferRequest(
            from_warehouse_code="MAIN", to_warehouse_code="RP-2", lines=lines((TEA, 1))
        ),
        rules="INV-12",
    ),
    in_inventory(
        "CancelTransfer",
        KEEPER_B,
        lambda a: pb.CancelTransferRequest(
            transfer_id=a["request a transfer to cancel"].transfer.transfer_id
        ),
        rules="INV-12",
    ),
    in_inventory(
        "LendSamples",
        KEEPER,
        lambda a: pb.LendSamplesRequest(sku_code=TEA, quantity=1, borrower="photo studio"),
        rules="INV-8",
    ),
    in_inventory(
        "ExtendLoan",
        KEEPER,
        lambda a: pb.ExtendLoanRequest(loan_id=a["LendSamples"].loan.loan_id),
        rules="INV-8",
    ),
    in_inventory(
        "ReturnLoan",
        KEEPER,
        lambda a: pb.ReturnLoanRequest(loan_id=a["LendSamples"].loan.loan_id),
        rules="INV-8",
    ),
    # --- a count with a variance, approved by the warehouse supervisor --------------------------------
    in_inventory(
        "PlanCount",
        SUPERVISOR,
        lambda a: pb.PlanCountRequest(
            warehouse_code="MAIN", kind=pb.COUNT_KIND_CYCLE, planned_for=A_MONDAY, sku_codes=[TEA]
        ),
        rules="INV-13",
    ),
    in_inventory("RecordCount", KEEPER, counted_one_short, rules="INV-13"),
    in_inventory(
        "ApproveCount",
        SUPERVISOR,
        lambda a: pb.ApproveCountRequest(
            count_id=a["PlanCount"].count.count_id,
            reason="one unit missing on shelf",
            responsible_person="Li Wei",
        ),
        rules="INV-13",
    ),
    # --- packing materials and replenishment ---------------------------------------------------------
    in_inventory(
        "RecordPackingUse",
        KEEPER,
        lambda a: pb.RecordPackingUseRequest(sku_code=BOX, quantity=10),
        rules="INV-16",
    ),
    in_inventory(
        "SetReplenishmentPolicy",
        BUYER,
        lambda a: pb.SetReplenishmentPolicyRequest(
            policy=pb.ReplenishmentPolicy(category="apparel", low_cover_days=3, order_days=10)
        ),
        rules="INV-15",
    ),
    in_inventory(
        "GenerateReplenishmentPlan",
        BUYER,
        lambda a: pb.GenerateReplenishmentPlanRequest(business_date=TOMORROW),
        rules="INV-15",
    ),
    in_inventory(
        "ApproveReplenishmentPlan",
        BUYER,
        lambda a: pb.ApproveReplenishmentPlanRequest(plan_id=a["GenerateReplenishmentPlan"].plan.plan_id),
        rules="INV-15",
    ),
    # --- promotions ----------------------------------------------------------------------------------
    in_orders(
        "CreatePromotion",
        PROMOTER,
        lambda a: opb.CreatePromotionRequest(
            promotion=opb.Promotion(
                promotion_id=PROMOTION,
                name="Replay sale",
                kind=opb.PROMOTION_KIND_PERCENTAGE,
                rate_bp=9000,
                starts_at=timestamp(timedelta(days=3)),
                ends_at=timestamp(timedelta(days=5)),
                large=True,
            )
        ),
        rules="ORD-8, INV-16",
    ),
    in_orders(
        "ReschedulePromotion",
        PROMOTER,
        lambda a: opb.ReschedulePromotionRequest(
            promotion_id=PROMOTION,
            starts_at=timestamp(timedelta(days=4)),
            ends_at=timestamp(timedelta(days=6)),
        ),
        rules="ORD-8",
    ),
    # --- an order from intake to release, with its amendments ----------------------------------------
    in_orders(
        "SubmitOrder",
        SHOP,
        lambda a: submitted("RP-TM-1", paid=False, quantity=2, message="please gift wrap"),
        rules="ORD-1",
    ),
    in_orders(  # a channel's page: one order taken in, one refused for its lines
        "BatchSubmitOrders",
        SHOP,
        lambda a: opb.BatchSubmitOrdersRequest(
            orders=[
                submitted("RP-TM-PAGE-1", paid=True, quantity=1),
                submitted("RP-TM-PAGE-2", paid=True, quantity=0),
            ]
        ),
        rules="ORD-1",
    ),
    in_orders(
        "ConfirmPayment",
        SHOP,
        lambda a: opb.ConfirmPaymentRequest(
            order_id=order_id(a),
            payment=opb.Payment(amount=yuan(88 * 2 + 10), paid_at=paid_at(), reference="ALI-RP"),
        ),
        rules="ORD-4",
    ),
    in_orders(
        "ResolveNotes",
        CS,
        lambda a: opb.ResolveNotesRequest(order_id=order_id(a), service_note="wrapped"),
        rules="ORD-2",
    ),
    in_orders(
        "ChangeAddress",
        CS,
        lambda a: opb.ChangeAddressRequest(order_id=order_id(a), address=OTHER_ADDRESS, reason="buyer moved"),
        rules="ORD-7",
    ),
    in_orders(
        "ChangeCarrier",
        CS,
        lambda a: opb.ChangeCarrierRequest(order_id=order_id(a), carrier_code="sf"),
        rules="ORD-7",
    ),
    in_orders(
        "SplitShipment",
        CS,
        lambda a: opb.SplitShipmentRequest(
            order_id=order_id(a),
            shipments=[
                opb.Shipment(address=ADDRESS, lines=[opb.OrderLine(sku_code=TEA, quantity=1)]),
                opb.Shipment(address=OTHER_ADDRESS, lines=[opb.OrderLine(sku_code=TEA, quantity=1)]),
            ],
        ),
        rules="ORD-7",
    ),
    in_orders(
        "RequestInvoice",
        CS,
        lambda a: opb.RequestInvoiceRequest(
            order_id=order_id(a), title="Replay Tea Co.", tax_id="91330100MA2B3C4D5E"
        ),
        rules="ORD-7",
    ),
    in_orders(  # reserves the order's stock at the inventory service (a saga: RESUMABLE)
        "ReviewOrders",
        LEAD,
        lambda a: opb.ReviewOrdersRequest(order_ids=[order_id(a)]),
        rules="ORD-2, INV-10",
    ),
    in_orders(
        "ReleaseToWarehouse",
        LEAD,
        lambda a: opb.ReleaseToWarehouseRequest(order_ids=[order_id(a)]),
        rules="ORD-4",
    ),
    in_orders(
        "RecordRefund",
        AFTER_SALES,
        lambda a: opb.RecordRefundRequest(order_id=order_id(a), amount=yuan(10), reason="late delivery"),
        rules="ORD-4, ORD-9",
    ),
    # --- an order reviewed, then cancelled: its reservation goes back --------------------------------
    in_orders(
        "SubmitOrder",
        SHOP,
        label="submit an order to cancel",
        build=lambda a: submitted("RP-TM-2", paid=True, quantity=1),
        rules="ORD-1",
    ),
    in_orders(
        "ReviewOrders",
        CS,
        label="review the order to cancel",
        build=lambda a: opb.ReviewOrdersRequest(order_ids=[order_id(a, "submit an order to cancel")]),
        rules="ORD-2, INV-10",
    ),
    in_orders(
        "CancelOrder",
        CS,
        lambda a: opb.CancelOrderRequest(
            order_id=order_id(a, "submit an order to cancel"), reason="buyer request"
        ),
        rules="ORD-5",
    ),
    # --- the warehouse floor: carriers, schedules, an exchange shipment from wave to exception case ----
    in_logistics(
        "PutCarrier",
        CLERK,
        lambda a: lg.PutCarrierRequest(
            carrier=lg.Carrier(
                carrier_code="sf",
                name="顺丰速运",
                zones=[
                    lg.CarrierZone(
                        zone=1,
                        provinces=[ADDRESS.province],
                        promised_days=1,
                        first_weight_price=yuan(12),
                        additional_kg_price=yuan(2),
                    )
                ],
            )
        ),
        rules="LOG-7",
    ),
    in_logistics(
        "PutWaveSchedule",
        CLERK,
        lambda a: lg.PutWaveScheduleRequest(
            schedule=lg.WaveSchedule(
                warehouse_code="MAIN",
                cutoffs=["10:30", "12:00", "14:30", "16:30", "17:30"],
                overrides=[lg.DaySchedule(date="2026-12-12", cutoffs=["09:00", "20:00"])],
            )
        ),
        rules="LOG-1",
    ),
    in_logistics(
        "CreateExchangeShipment",
        AFTER_SALES,
        lambda a: lg.CreateExchangeShipmentRequest(
            original_order_id=order_id(a),
            shop_code="tmall-flagship",
            reason="RMA-RP: wrong size",
            address=lg.Address(
                recipient=ADDRESS.recipient,
                phone=ADDRESS.phone,
                province=ADDRESS.province,
                city=ADDRESS.city,
                district=ADDRESS.district,
                street=ADDRESS.street,
            ),
            lines=[lg.ShipmentLine(sku_code=TEA, quantity=1)],
        ),
        rules="LOG-8",
    ),
    in_logistics(
        "SignExchangeShipment",
        CLERK,
        lambda a: lg.SignExchangeShipmentRequest(
            shipment_id=a["CreateExchangeShipment"].shipment.shipment_id
        ),
        rules="LOG-8",
    ),
    in_logistics(
        "CloseWave",
        CLERK,
        lambda a: lg.CloseWaveRequest(wave_id=a["CreateExchangeShipment"].shipment.wave_id),
        rules="LOG-1, LOG-2",
    ),
    in_logistics(
        "StartVerification",
        VERIFIER,
        lambda a: lg.StartVerificationRequest(
            label_barcode=exchange_parcel(a), packing_slip_barcode=exchange_parcel(a)
        ),
        rules="LOG-3",
    ),
    in_logistics(
        "ScanItem",
        VERIFIER,
        lambda a: lg.ScanItemRequest(parcel_id=exchange_parcel(a), barcode=TEA),
        rules="LOG-3",
    ),
    in_logistics(
        "PackParcel",
        PACKER,
        lambda a: lg.PackParcelRequest(parcel_id=exchange_parcel(a), weight_grams=800),
        rules="LOG-4",
    ),
    in_logistics(
        "DispatchParcel",
        CLERK,
        lambda a: lg.DispatchParcelRequest(parcel_id=exchange_parcel(a), tracking_number="SF-RP-0001"),
        rules="LOG-5",
    ),
    in_logistics(
        "RecordTrackingEvents",
        CARRIER_FEED,
        lambda a: lg.RecordTrackingEventsRequest(
            events=[
                lg.TrackingEvent(
                    event_id="RP-EV-1",
                    tracking_number="SF-RP-0001",
                    state=lg.TRACKING_STATE_LOST,
                    at=timestamp(timedelta(minutes=-5)),
                )
            ]
        ),
        rules="LOG-6",
    ),
    in_logistics(
        "AssignExceptionCase",
        CLERK,
        lambda a: lg.AssignExceptionCaseRequest(case_id=case_id(a), owner="clerk-2"),
        rules="LOG-6",
    ),
    in_logistics(
        "RecordCustomerTold",
        CLERK,
        lambda a: lg.RecordCustomerToldRequest(
            case_id=case_id(a),
            channel=lg.CONTACT_CHANNEL_PHONE,
            note="told the buyer a new tin is on its way",
        ),
        rules="LOG-6",
    ),
    in_logistics(
        "ResolveExceptionCase",
        CLERK,
        lambda a: lg.ResolveExceptionCaseRequest(case_id=case_id(a), resolution=lg.RESOLUTION_CARRIER_CLAIM),
        rules="LOG-6",
    ),
    in_logistics(
        "WithdrawOrder",
        CS,
        lambda a: lg.WithdrawOrderRequest(order_id="RP-NOT-ARRIVED", reason="buyer cancelled"),
        rules="ORD-5",
    ),
    # --- the day closes with every document posted ---------------------------------------------------
    in_inventory(
        "CloseDay",
        SUPERVISOR,
        lambda a: pb.CloseDayRequest(business_date=business_day(datetime.now(UTC)).isoformat()),
        rules="INV-14",
    ),
)


def mutating_rpcs() -> set[str]:
    """Every mutating RPC of the two services, from their descriptors."""
    return {
        full_method_name(method)
        for service in SERVICES
        for method in service.methods
        if policy_of_method(method).mutating
    }


# --- a different request under the same id ---------------------------------------------------------------


def _bumped(field: Any, value: Any) -> Any:
    """Another value of a scalar field."""
    if field.type == FieldDescriptor.TYPE_STRING:
        return f"{value}-other"
    if field.type == FieldDescriptor.TYPE_BYTES:
        return value + b"-other"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return not value
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return value + 1.0
    return value + 1  # integers, and enums (open in proto3)


def _is_map(field: Any) -> bool:
    return field.message_type is not None and bool(field.message_type.GetOptions().map_entry)


def _change_one_field(message: Message) -> bool:
    """Changes the first field it can of ``message`` (never its request_id); False if it has none."""
    for field in message.DESCRIPTOR.fields:
        if field.name == REQUEST_ID:
            continue
        value = getattr(message, field.name)
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if field.is_repeated:
            if is_message and _is_map(field):
                continue
            if is_message and not len(value):
                value.add()  # one more (empty) element is a different request
                return True
            if is_message:
                if _change_one_field(value[0]):
                    return True
                continue
            if len(value):
                value[0] = _bumped(field, value[0])
            else:
                value.append(_bumped(field, field.default_value))
            return True
        if is_message:
            if _change_one_field(value):
                return True
            continue
        setattr(message, field.name, _bumped(field, value))
        return True
    return False


def a_different(request: Message) -> Message:
    """``request`` with one field changed and the same request_id."""
    other = type(request)()
    other.CopyFrom(request)
    assert _change_one_field(other), f"{type(request).__name__} has no field to change"
    assert other != request
    return other


# --- the databases ---------------------------------------------------------------------------------------


async def tables_of(database: Database) -> list[str]:
    async with database.connection() as conn:
        names = await conn.execute(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        )
        return list(names.scalars())


async def snapshot(databases: Mapping[str, tuple[Database, list[str]]]) -> Snapshot:
    """Every compared table's rows as text, and the row counts of the claims and the outbox."""
    out: Snapshot = {}
    for db_name, (database, tables) in databases.items():
        async with database.connection() as conn:
            quote = conn.dialect.identifier_preparer.quote
            parts = [
                f"SELECT '{table}' AS name, (SELECT coalesce(array_agg(t::text ORDER BY t::text), '{{}}') "
                f"FROM {quote(table)} t) AS rows"
                for table in tables
                if table not in NOT_COMPARED
            ] + [
                f"SELECT '{table} (row count)', ARRAY[(SELECT count(*) FROM {quote(table)})::text]"
                for table in COUNTED
                if table in tables
            ]
            rows = (await conn.execute(sa.text(" UNION ALL ".join(parts)))).all()
        out.update({f"{db_name}.{name}": tuple(values) for name, values in rows})
    return out


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What differs between two snapshots, table by table."""
    out = []
    for key in sorted(before.keys() | after.keys()):
        old, new = before.get(key, ()), after.get(key, ())
        if old != new:
            gone = [row[:300] for row in old if row not in new]
            added = [row[:300] for row in new if row not in old]
            out.append(f"{key}: rows gone {gone}, rows added {added}")
    return out


# --- one step --------------------------------------------------------------------------------------------


def one_line(message: Message) -> str:
    return text_format.MessageToString(message, as_one_line=True)


class ScenarioBroken(Exception):
    """A step's first call failed: the steps after it lack the state they need."""


def unary(channel: grpc.aio.Channel, method: MethodDescriptor) -> grpc.aio.UnaryUnaryMultiCallable:
    request_type = message_factory.GetMessageClass(method.input_type)
    response_type = message_factory.GetMessageClass(method.output_type)
    return channel.unary_unary(
        full_method_name(method),
        request_serializer=request_type.SerializeToString,
        response_deserializer=response_type.FromString,
    )


async def replayed(
    step: Step,
    request_id: str,
    channels: Mapping[str, grpc.aio.Channel],
    databases: Mapping[str, tuple[Database, list[str]]],
    answers: Answers,
) -> list[str]:
    """Runs ``step`` once, then checks its retry and a different request under its id; the problems found."""
    call = unary(channels[step.method.containing_service.full_name], step.method)
    request = step.build(answers)
    setattr(request, REQUEST_ID, request_id)
    try:
        first = await call(request, metadata=step.caller, timeout=30)
    except grpc.aio.AioRpcError as err:  # the scenario is wrong (or an earlier retry broke it): stop
        raise ScenarioBroken(
            f"{step.describe()}: the first call failed, so the scenario cannot go on: {err.code().name} "
            f"{err.details()} {field_violations(err)}"
        ) from err
    answers[step.label] = first
    problems = []

    before = await snapshot(databases)
    try:
        again = await call(request, metadata=step.caller, timeout=30)
    except grpc.aio.AioRpcError as err:
        problems.append(f"the retry was refused: {err.code().name} {err.details()} {field_violations(err)}")
    else:
        if again != first or again.SerializeToString(deterministic=True) != first.SerializeToString(
            deterministic=True
        ):
            problems.append(f"the retry got another answer: first {one_line(first)}; retry {one_line(again)}")
    after_retry = await snapshot(databases)
    problems += [f"the retry changed {change}" for change in changes(before, after_retry)]

    try:
        other = await call(a_different(request), metadata=step.caller, timeout=30)
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.ALREADY_EXISTS or REQUEST_ID not in field_violations(err):
            problems.append(
                f"a different request under the same id was refused with {err.code().name} "
                f"{field_violations(err)}, not ALREADY_EXISTS naming request_id"
            )
    else:
        problems.append(f"a different request under the same id was answered: {one_line(other)}")
    problems += [
        f"the refused request changed {change}" for change in changes(after_retry, await snapshot(databases))
    ]
    return [f"{step.describe()}: {problem}" for problem in problems]


# --- the tests -------------------------------------------------------------------------------------------


def test_the_scenario_covers_every_mutating_rpc() -> None:
    """A mutating RPC added to any of the three services needs a step here; every step is a mutating RPC, called with
    a role its policy names."""
    assert {s.name for s in SCENARIO} == mutating_rpcs()
    assert len({s.label for s in SCENARIO}) == len(SCENARIO), "step labels must be unique"
    for s in SCENARIO:
        policy = policy_of_method(s.method)
        assert policy.mutating, s.describe()
        caller = identity.identity_from_header(dict(s.caller)[identity.METADATA_KEY])
        assert caller.has_any(policy.roles), f"{s.describe()}: {sorted(caller.roles)} may not call it"


async def test_every_mutating_rpc_replays_its_first_answer_and_changes_nothing(
    inventory: RunningService, orders_service: RunningService, logistics: RunningService
) -> None:
    channels = {
        INVENTORY.full_name: inventory.channel,
        ORDERS.full_name: orders_service.channel,
        LOGISTICS.full_name: logistics.channel,
    }
    databases = {
        "inventory": (inventory.database, await tables_of(inventory.database)),
        "orders": (orders_service.database, await tables_of(orders_service.database)),
        "logistics": (logistics.database, await tables_of(logistics.database)),
    }
    answers: Answers = {}
    problems: list[str] = []
    covered: set[str] = set()
    for i, s in enumerate(SCENARIO):
        try:
            problems += await replayed(s, f"replay-{i:02d}-{s.method.name}", channels, databases, answers)
        except ScenarioBroken as broken:
            raise AssertionError("\n".join([*problems, str(broken)])) from broken
        covered.add(s.name)
    assert covered == mutating_rpcs()
    assert not problems, "\n".join(problems)
    reached_what_it_meant_to(answers)


def reached_what_it_meant_to(answers: Answers) -> None:
    """The scenario did what its steps are for, so each replay was of a call that changed something."""
    assert answers["PutAway"].lots  # the porter moved stock on a keeper's approval (INV-18)
    posted = answers["PostReceipt"].receipt
    assert (posted.status, posted.lines[0].defective_units) == (pb.RECEIPT_STATUS_POSTED, 3)
    assert answers["ReturnToSupplier"].return_id
    assert answers["ReceiveTransfer"].transfer.status == pb.TRANSFER_STATUS_RECEIVED
    assert answers["CancelTransfer"].transfer.status == pb.TRANSFER_STATUS_CANCELLED
    assert answers["ExtendLoan"].loan.extended and answers["ReturnLoan"].loan.returned
    assert answers["ApproveCount"].count.posted and answers["ApproveCount"].count.lines[0].variance == -1
    assert answers["ApproveReplenishmentPlan"].plan.approved
    assert answers["ConfirmPayment"].order.status == opb.ORDER_STATUS_PAID
    for review in ("ReviewOrders", "review the order to cancel"):
        [outcome] = answers[review].outcomes
        assert outcome.status == opb.ORDER_STATUS_REVIEWED, outcome
    assert answers["ReleaseToWarehouse"].outcomes[0].status == opb.ORDER_STATUS_RELEASED
    cancelled = answers["CancelOrder"].order
    assert (cancelled.status, cancelled.reservation_state) == (opb.ORDER_STATUS_CANCELLED, "released")
    assert answers["ReschedulePromotion"].promotion.revision == 2
    assert answers["CloseDay"].close.receipts_posted == 1
    assert answers["DispatchParcel"].parcel.status == lg.PARCEL_STATUS_DISPATCHED
    assert answers["ResolveExceptionCase"].exception_case.resolution == lg.RESOLUTION_CARRIER_CLAIM
