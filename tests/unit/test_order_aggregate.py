"""The order aggregate without a database: every command from every status of ORD-4, allowed and refused
(ORD-2 review, ORD-5 cancellation, ORD-7 amendments, refunds), and every step of the stock reservation."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from libs.errors import FailedPrecondition, InvalidArgument
from services.orders.domain.amendments import Invoice, Shipment
from services.orders.domain.intake import Address, Channel, IncomingOrder, OrderLine, Payment
from services.orders.domain.order import Order, StatusChanged
from services.orders.domain.states import (
    BEFORE_RELEASE,
    HoldCategory,
    OrderStatus,
    ReservationState,
    check_reservation_step,
)

S = OrderStatus
R = ReservationState
ORDER_ID = "0f6c1f8e-5d1a-4a57-9a57-1d6f1f0c2b10"
RECEIVED_AT = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
AT = RECEIVED_AT + timedelta(hours=1)
ACTOR = "cs-1"
ADDRESS = Address("Wang Fang", "13812345678", "Zhejiang", "Hangzhou", "Xihu", "18 Longjing Road")
OTHER_ADDRESS = Address("Zhao Lei", "0571-87654321", "Zhejiang", "Ningbo", "Haishu", "9 Tianyi Square")
LINES = (OrderLine("LJ-250-GRN", 3, 8_800),)
SHIPPING_FEN = 1_000
TOTAL_FEN = 3 * 8_800 + SHIPPING_FEN
PAYMENT = Payment(TOTAL_FEN, RECEIVED_AT, "ALI-1")
HOLDS_STOCK = frozenset({S.REVIEWED, S.RELEASED, S.SHIPPED, S.DELIVERED, S.COMPLETED})


def order_in(status: OrderStatus, *, reservation: ReservationState | None = None, **fields: object) -> Order:
    """An order as it stands in ``status``: paid unless pending payment, its stock reserved once reviewed,
    refunded in full and its reservation given back once cancelled, on hold for short stock when on hold."""
    paid = status is not S.PENDING_PAYMENT
    if reservation is None:
        reservation = R.RESERVED if status in HOLDS_STOCK else R.RELEASED if status is S.CANCELLED else R.NONE
    held = status is S.ON_HOLD
    order = Order(
        order_id=ORDER_ID, channel=Channel.TMALL, channel_order_id="TM-1001", shop_code="tmall-flagship",
        buyer_id="buyer-77", address=ADDRESS, lines=LINES, buyer_message="", goods_fen=TOTAL_FEN - SHIPPING_FEN,
        discount_fen=0, shipping_fee_fen=SHIPPING_FEN, total_fen=TOTAL_FEN, created_at=RECEIVED_AT,
        status=status, hold_category=HoldCategory.SHORT_STOCK if held else None,
        hold_reason="STOCK: LJ-250-GRN: 1 available" if held else "", reservation=reservation,
        paid_fen=TOTAL_FEN if paid else 0, paid_at=RECEIVED_AT if paid else None,
        payment_reference="ALI-1" if paid else "", refunded_fen=TOTAL_FEN if status is S.CANCELLED else 0,
    )  # fmt: skip
    for name, value in fields.items():
        setattr(order, name, value)
    return order


def snapshot(order: Order) -> tuple[object, ...]:
    return (
        order.status, order.reservation, order.hold_category, order.hold_reason, order.paid_fen,
        order.refunded_fen, order.service_note, order.notes_resolved, order.address, order.amendments,
        order.new_timeline, order.pending_events, order.new_refunds,
    )  # fmt: skip


# ------------------------------------------------------------------------- the status x command matrix


@dataclass(frozen=True)
class Changes:
    """The command is allowed: the order ends in ``status`` (None: as it was) with these new timeline
    entries, and its reservation in ``reservation`` (None: as it was)."""

    status: OrderStatus | None
    timeline: tuple[str, ...]
    reservation: ReservationState | None = None


@dataclass(frozen=True)
class Refused:
    """The command is refused with FailedPrecondition naming ``field``, and the order is left as it was."""

    reason: str = "ORDER_STATE"
    field: str = "order_id"


#: Allowed, and changes nothing: a repeat, or an answer that was booked already.
KEEPS = Changes(None, ())
Outcome = Changes | Refused


@dataclass(frozen=True)
class Spec:
    """A command, what it does from the statuses listed, and from every other one."""

    run: Callable[[Order], object]
    outcomes: Mapping[OrderStatus, Outcome]
    otherwise: Outcome = Refused()
    #: The reservation the order holds when the command runs; None: as its status implies.
    reservation: ReservationState | None = None

    def expected(self, status: OrderStatus) -> Outcome:
        return self.outcomes.get(status, self.otherwise)


def _same_for(
    statuses: frozenset[OrderStatus] | tuple[OrderStatus, ...], outcome: Outcome
) -> dict[OrderStatus, Outcome]:
    return dict.fromkeys(statuses, outcome)


SPLIT = [
    Shipment(ADDRESS, (("LJ-250-GRN", 1),)),
    Shipment(OTHER_ADDRESS, (("LJ-250-GRN", 2),)),
]

SPECS: dict[str, Spec] = {
    "confirm_payment": Spec(
        lambda o: o.confirm_payment(Payment(TOTAL_FEN, AT, "ALI-2"), actor=ACTOR, at=AT),
        {S.PENDING_PAYMENT: Changes(S.PAID, ("paid",))},
    ),
    "resolve_notes": Spec(
        lambda o: o.resolve_notes(" gift wrapped ", actor=ACTOR, at=AT),
        _same_for((S.PENDING_PAYMENT, S.PAID, S.ON_HOLD), Changes(None, ("notes resolved",))),
    ),
    "review": Spec(
        lambda o: o.review(actor=ACTOR, at=AT),
        {
            **_same_for((S.PAID, S.ON_HOLD), Changes(None, ("stock reservation requested",), R.RESERVING)),
            **_same_for((S.REVIEWED, S.RELEASED), KEEPS),
        },
    ),
    "reserved": Spec(
        lambda o: o.reserved(actor=ACTOR, at=AT),
        {
            **_same_for((S.PAID, S.ON_HOLD), Changes(S.REVIEWED, ("reviewed",), R.RESERVED)),
            # Cancelled while asking: whatever was reserved goes back.
            S.CANCELLED: Changes(None, (), R.RELEASING),
        },
        reservation=R.RESERVING,
    ),
    "reservation_refused": Spec(
        lambda o: o.reservation_refused("LJ-250-GRN: 1 available", short_stock=True, actor=ACTOR, at=AT),
        _same_for((S.PAID, S.ON_HOLD), Changes(S.ON_HOLD, ("stock not reserved",), R.NONE)),
        otherwise=Changes(None, (), R.NONE),
        reservation=R.RESERVING,
    ),
    "reservation_unconfirmed": Spec(
        lambda o: o.reservation_unconfirmed("UNAVAILABLE", actor=ACTOR, at=AT),
        _same_for((S.PAID, S.ON_HOLD), Changes(S.ON_HOLD, ("reservation not confirmed",))),
        otherwise=KEEPS,
        reservation=R.RESERVING,
    ),
    "reservation_cut": Spec(
        lambda o: o.reservation_cut("count 7: LJ-250-GRN short by 2", actor=ACTOR, at=AT),
        _same_for((S.REVIEWED, S.RELEASED), Changes(S.ON_HOLD, ("stock reservation cut",), R.NONE)),
        otherwise=Changes(None, ("stock reservation cut",), R.NONE),
        reservation=R.RESERVED,
    ),
    "release_to_warehouse": Spec(
        lambda o: o.release_to_warehouse(actor=ACTOR, at=AT),
        {S.REVIEWED: Changes(S.RELEASED, ("released to warehouse",)), S.RELEASED: KEEPS},
    ),
    # LOG-5: the order is shipped when its last parcel leaves; any other parcel is a timeline entry.
    "parcel_dispatched": Spec(
        lambda o: o.parcel_dispatched("sf", "SF1234567890", all_left=True, actor=ACTOR, at=AT),
        {S.RELEASED: Changes(S.SHIPPED, ("shipped",))},
        otherwise=Changes(None, ("parcel dispatched",)),
    ),
    # LOG-6: the order is delivered when its last parcel is; any other parcel is a timeline entry.
    "parcel_delivered": Spec(
        lambda o: o.parcel_delivered("SF1234567890", all_delivered=True, actor=ACTOR, at=AT),
        {S.SHIPPED: Changes(S.DELIVERED, ("delivered",))},
        otherwise=Changes(None, ("parcel delivered",)),
    ),
    # LOG-6: an exception case's steps are on the timeline whatever the order's status.
    "parcel_exception": Spec(
        lambda o: o.parcel_exception("lost", "opened", "SF1234567890", actor=ACTOR, at=AT),
        {},
        otherwise=Changes(None, ("parcel exception",)),
    ),
    "cancel": Spec(
        lambda o: o.cancel("buyer changed their mind", actor=ACTOR, at=AT),
        {
            S.PENDING_PAYMENT: Changes(S.CANCELLED, ("cancelled",)),
            S.PAID: Changes(S.CANCELLED, ("cancelled", "refunded")),
            S.REVIEWED: Changes(S.CANCELLED, ("cancelled", "refunded"), R.RELEASING),
            S.ON_HOLD: Changes(S.CANCELLED, ("cancelled", "refunded")),
            S.CANCELLED: KEEPS,
        },
        otherwise=Refused("RELEASED_TO_WAREHOUSE"),
    ),
    "start_releasing": Spec(
        lambda o: o.start_releasing(),
        {S.CANCELLED: Changes(None, (), R.RELEASING)},
        reservation=R.RESERVED,
    ),
    "reservation_released": Spec(
        lambda o: o.reservation_released(actor=ACTOR, at=AT),
        {},
        otherwise=Changes(None, ("stock reservation released",), R.RELEASED),
        reservation=R.RELEASING,
    ),
    "record_refund": Spec(
        lambda o: o.record_refund(500, "damaged box", actor=ACTOR, at=AT),
        # A cancelled order was refunded in full already.
        {S.PENDING_PAYMENT: Refused(), S.CANCELLED: Refused("REFUND_EXCEEDS_PAYMENT", "amount")},
        otherwise=Changes(None, ("refunded",)),
    ),
    "change_address": Spec(
        lambda o: o.change_address(OTHER_ADDRESS, "buyer moved", actor=ACTOR, at=AT),
        _same_for(BEFORE_RELEASE, Changes(None, ("address changed",))),
        otherwise=Refused("ORDER_RELEASED"),
    ),
    "change_carrier": Spec(
        lambda o: o.change_carrier("sf", actor=ACTOR, at=AT),
        _same_for(BEFORE_RELEASE, Changes(None, ("carrier changed",))),
        otherwise=Refused("ORDER_RELEASED"),
    ),
    "split_shipment": Spec(
        lambda o: o.split_shipment(SPLIT, actor=ACTOR, at=AT),
        _same_for(BEFORE_RELEASE, Changes(None, ("split into shipments",))),
        otherwise=Refused("ORDER_RELEASED"),
    ),
    "request_invoice": Spec(
        lambda o: o.request_invoice(Invoice("Hangzhou Tea Co.", "91330100MA2B3C4D5E"), actor=ACTOR, at=AT),
        _same_for(BEFORE_RELEASE, Changes(None, ("invoice requested",))),
        otherwise=Refused("ORDER_RELEASED"),
    ),
}

MATRIX = list(itertools.product(SPECS, OrderStatus))


@pytest.mark.parametrize(("command", "status"), MATRIX, ids=[f"{c}-from-{s.value}" for c, s in MATRIX])
def test_ord_4_every_command_from_every_status(command: str, status: OrderStatus) -> None:
    """ORD-4 (with ORD-2, ORD-5, ORD-7): each command from each status either makes its change, recording
    every status step on the timeline (actor and time) and as a StatusChanged event, or is refused with
    FAILED_PRECONDITION naming the order and leaves it exactly as it was."""
    spec = SPECS[command]
    order = order_in(status, reservation=spec.reservation)
    before = snapshot(order)
    expected = spec.expected(status)

    if isinstance(expected, Refused):
        with pytest.raises(FailedPrecondition) as refused:
            spec.run(order)
        assert refused.value.reason == expected.reason
        assert [v.field for v in refused.value.violations] == [expected.field]
        assert snapshot(order) == before
        return

    spec.run(order)
    assert order.status is (expected.status or status)
    assert order.reservation is (expected.reservation or before[1])
    assert [e.event for e in order.new_timeline] == list(expected.timeline)
    assert all((e.actor, e.at) == (ACTOR, AT) for e in order.new_timeline)
    steps = [(e.from_status, e.to_status) for e in order.new_timeline if e.to_status]
    if expected.status is None:
        assert steps == []
    else:
        assert steps[0] == (status, expected.status)
    assert [(e.from_status, e.to_status) for e in order.pending_events] == steps
    for event in order.pending_events:
        assert (event.order_id, event.channel, event.shop_code, event.total_fen, event.at) == (
            ORDER_ID, Channel.TMALL, "tmall-flagship", TOTAL_FEN, AT,
        )  # fmt: skip


def test_ord_4_the_matrix_covers_every_command_of_the_aggregate() -> None:
    """Every public command of the order is in the ORD-4 matrix above."""
    queries = {
        "review_findings", "new_timeline", "pending_events", "new_refunds", "clear_pending", "receive", "sent_as",
        "shipping_plan",
    }  # fmt: skip
    commands = {
        name for name in vars(Order) if not name.startswith("_") and callable(getattr(Order, name))
    } - queries
    assert commands == set(SPECS)


# ------------------------------------------------------------------------------------------ intake


def incoming(payment: Payment | None) -> IncomingOrder:
    return IncomingOrder(
        Channel.TMALL, "TM-1001", "tmall-flagship", "buyer-77", ADDRESS, LINES, SHIPPING_FEN, 0, "", payment
    )


def test_ord_1_a_received_order_is_pending_payment_or_paid_with_one_event() -> None:
    """ORD-1, ORD-4: a new order is received (and paid, when its channel says so), on the timeline, and
    announced once, in the status it arrived in, at the moment of payment when paid."""
    unpaid = Order.receive(ORDER_ID, incoming(None), actor="tmall-connector", at=RECEIVED_AT)
    assert (unpaid.status, unpaid.reservation, unpaid.created_at) == (S.PENDING_PAYMENT, R.NONE, RECEIVED_AT)
    assert [(e.event, e.from_status, e.to_status) for e in unpaid.new_timeline] == [
        ("received", None, S.PENDING_PAYMENT)
    ]
    assert unpaid.pending_events == (
        StatusChanged(
            ORDER_ID, Channel.TMALL, "tmall-flagship", None, S.PENDING_PAYMENT, TOTAL_FEN, RECEIVED_AT
        ),
    )

    paid_at = RECEIVED_AT - timedelta(minutes=3)
    paid = Order.receive(ORDER_ID, incoming(Payment(TOTAL_FEN, paid_at, "ALI-1")), actor="c", at=RECEIVED_AT)
    assert (paid.status, paid.paid_fen, paid.paid_at, paid.payment_reference) == (
        S.PAID, TOTAL_FEN, paid_at, "ALI-1",
    )  # fmt: skip
    assert [(e.event, e.from_status, e.to_status) for e in paid.new_timeline] == [
        ("received", None, S.PENDING_PAYMENT),
        ("paid", S.PENDING_PAYMENT, S.PAID),
    ]
    assert [(e.from_status, e.to_status, e.at) for e in paid.pending_events] == [(None, S.PAID, paid_at)]


def test_ord_4_recorded_entries_and_events_are_forgotten_once_stored() -> None:
    order = order_in(S.PENDING_PAYMENT)
    order.confirm_payment(PAYMENT, actor=ACTOR, at=AT)
    assert order.new_timeline and order.pending_events
    order.clear_pending()
    assert (order.new_timeline, order.pending_events, order.new_refunds) == ((), (), ())
    assert order.status is S.PAID


# ---------------------------------------------------------------------------------------- payment


def test_ord_4_payment_must_equal_the_total_and_confirming_it_again_changes_nothing() -> None:
    order = order_in(S.PENDING_PAYMENT)
    with pytest.raises(InvalidArgument) as wrong:
        order.confirm_payment(Payment(100, AT, "ALI-9"), actor=ACTOR, at=AT)
    assert [v.field for v in wrong.value.violations] == ["payment.amount"]
    assert order.status is S.PENDING_PAYMENT and not order.new_timeline

    order.confirm_payment(PAYMENT, actor=ACTOR, at=AT)
    order.clear_pending()
    for status in (S.PAID, S.REVIEWED):
        order.status = status
        order.confirm_payment(PAYMENT, actor=ACTOR, at=AT)  # the channel sends it again
        assert (order.status, order.new_timeline, order.pending_events) == (status, (), ())


def test_ord_2_resolving_notes_keeps_the_note_and_marks_them_honoured() -> None:
    order = order_in(S.ON_HOLD, buyer_message="please gift wrap")
    order.resolve_notes("  wrapped in red paper ", actor=ACTOR, at=AT)
    assert (order.service_note, order.notes_resolved) == ("wrapped in red paper", True)
    assert order.new_timeline[0].reason == "  wrapped in red paper "
    assert order.status is S.ON_HOLD and not order.pending_events


# ----------------------------------------------------------------------------------------- review


def test_ord_2_a_review_that_finds_problems_puts_the_order_on_hold_with_every_reason() -> None:
    """ORD-2: an order failing review goes to the exception queue with its reason, never silently dropped."""
    bad = Address("Li", "12345", "Zhejiang", "Hangzhou", "", "x")
    order = order_in(S.PAID, address=bad, buyer_message="gift wrap, please")
    assert order.review(actor=ACTOR, at=AT) is False
    assert (order.status, order.hold_category, order.reservation) == (
        S.ON_HOLD, HoldCategory.REVIEW_FAILED, R.NONE,
    )  # fmt: skip
    for code in ("ADDRESS_INCOMPLETE", "PHONE_INVALID", "ADDRESS_INVALID", "NOTES_UNRESOLVED"):
        assert code in order.hold_reason
    [entry] = order.new_timeline
    assert (entry.event, entry.from_status, entry.to_status, entry.reason) == (
        "review failed", S.PAID, S.ON_HOLD, order.hold_reason,
    )  # fmt: skip
    assert [e.reason for e in order.pending_events] == [order.hold_reason]


def test_ord_2_a_passing_review_asks_for_stock_once_and_is_booked_reviewed() -> None:
    order = order_in(S.PAID)
    assert order.review(actor=ACTOR, at=AT) is True
    assert order.reservation is R.RESERVING
    order.clear_pending()
    assert order.review(actor=ACTOR, at=AT) is True  # asked again after a crash: no second request
    assert not order.new_timeline
    order.reserved(actor=ACTOR, at=AT)
    assert (order.status, order.reservation, order.reviewed_at) == (S.REVIEWED, R.RESERVED, AT)
    assert order.new_timeline[0].reason == "payment, address and notes checked; stock reserved"
    order.clear_pending()
    order.reserved(actor=ACTOR, at=AT + timedelta(seconds=1))  # the same answer booked twice
    assert (order.new_timeline, order.reviewed_at) == ((), AT)
    assert order.review(actor=ACTOR, at=AT) is False  # reviewing a reviewed order changes nothing


def test_ord_2_a_pending_payment_order_cannot_be_reviewed() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        order_in(S.PENDING_PAYMENT).review(actor=ACTOR, at=AT)
    assert refused.value.violations[0].description == "an order that is pending_payment cannot be reviewed"


def test_ord_2_a_reviewed_order_leaving_the_exception_queue_drops_its_hold() -> None:
    order = order_in(S.ON_HOLD, reservation=R.RESERVING)
    order.reserved(actor=ACTOR, at=AT)
    assert (order.status, order.hold_category, order.hold_reason) == (S.REVIEWED, None, "")


@pytest.mark.parametrize(("short", "category"), [(True, "short_stock"), (False, "review_failed")])
def test_ord_2_refused_stock_waits_for_stock_or_for_a_person(short: bool, category: str) -> None:
    """Short stock is reviewed again by itself when stock arrives; anything else needs a person."""
    order = order_in(S.PAID, reservation=R.RESERVING)
    order.reservation_refused("no SKU NOPE-1", short_stock=short, actor=ACTOR, at=AT)
    assert (order.status, order.reservation, order.hold_reason) == (S.ON_HOLD, R.NONE, "STOCK: no SKU NOPE-1")
    assert order.hold_category is not None and order.hold_category.value == category


def test_ord_2_an_unanswered_reservation_is_a_system_fault_and_keeps_its_step_open() -> None:
    order = order_in(S.PAID, reservation=R.RESERVING)
    order.reservation_unconfirmed("DEADLINE_EXCEEDED", actor=ACTOR, at=AT)
    assert (order.status, order.hold_category, order.reservation) == (
        S.ON_HOLD, HoldCategory.SYSTEM_FAULT, R.RESERVING,
    )  # fmt: skip
    assert order.hold_reason == "inventory unavailable (DEADLINE_EXCEEDED); retried automatically"


def test_inv_13_a_cut_reservation_holds_the_order_for_short_stock() -> None:
    order = order_in(S.RELEASED)
    order.reservation_cut("count 7: LJ-250-GRN short by 2", actor="service:inventory", at=AT)
    assert (order.status, order.hold_category, order.reservation) == (
        S.ON_HOLD, HoldCategory.SHORT_STOCK, R.NONE,
    )  # fmt: skip
    assert order.hold_reason == "STOCK: count 7: LJ-250-GRN short by 2"
    # A cut of an order that holds no stock only goes on the timeline.
    cancelled = order_in(S.CANCELLED)
    cancelled.reservation_cut("count 8", actor="service:inventory", at=AT)
    assert [(e.event, e.reason, e.to_status) for e in cancelled.new_timeline] == [
        ("stock reservation cut", "count 8", None)
    ]


# ------------------------------------------------------------------------------------ cancellation


def test_ord_5_cancelling_before_release_gives_the_stock_back_and_refunds_what_was_paid() -> None:
    """ORD-5, ORD-9: the reservation is released and the payment refunded in full, on the timeline."""
    order = order_in(S.REVIEWED, refunded_fen=1_000)
    order.cancel("buyer request", actor=ACTOR, at=AT)
    assert (order.status, order.reservation, order.refunded_fen) == (S.CANCELLED, R.RELEASING, TOTAL_FEN)
    [refund] = order.new_refunds
    owed = TOTAL_FEN - 1_000
    assert (refund.amount_fen, refund.reason, refund.refunded_by, refund.at) == (
        owed, "order cancelled: buyer request", ACTOR, AT,
    )  # fmt: skip
    assert [(e.event, e.reason) for e in order.new_timeline] == [
        ("cancelled", "buyer request"),
        ("refunded", f"{owed} fen: order cancelled"),
    ]
    order.clear_pending()
    order.reservation_released(actor=ACTOR, at=AT)
    assert order.reservation is R.RELEASED
    assert [e.event for e in order.new_timeline] == ["stock reservation released"]


def test_ord_5_after_release_logistics_must_accept_the_cancellation() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        order_in(S.RELEASED).cancel("too late", actor=ACTOR, at=AT)
    assert refused.value.violations[0].description == (
        "the order is released: after release, logistics must accept the cancellation"
    )


def test_ord_5_a_released_order_is_cancelled_once_logistics_let_it_go() -> None:
    """ORD-5: after release, the warehouse's acceptance cancels the order: its stock goes back and the
    buyer is refunded, as before release. It does not cancel a shipped order."""
    order = order_in(S.RELEASED)
    order.cancel("buyer changed their mind", actor=ACTOR, at=AT, warehouse_let_go=True)
    assert (order.status, order.reservation, order.refunded_fen) == (S.CANCELLED, R.RELEASING, TOTAL_FEN)
    with pytest.raises(FailedPrecondition):
        order_in(S.SHIPPED).cancel("too late", actor=ACTOR, at=AT, warehouse_let_go=True)


def test_ord_5_an_unpaid_cancelled_order_refunds_nothing() -> None:
    order = order_in(S.PENDING_PAYMENT)
    order.cancel("never paid", actor=ACTOR, at=AT)
    assert (order.new_refunds, order.refunded_fen) == ((), 0)


# ----------------------------------------------------------------------------------------- refunds


def test_ord_4_refunds_are_recorded_and_never_exceed_the_payment() -> None:
    order = order_in(S.PAID)
    refund = order.record_refund(3_000, "  damaged box ", actor="as-1", at=AT)
    assert (refund.amount_fen, refund.reason, order.refunded_fen) == (3_000, "damaged box", 3_000)
    assert [(e.event, e.reason) for e in order.new_timeline] == [("refunded", "3000 fen: damaged box")]
    with pytest.raises(FailedPrecondition) as refused:
        order.record_refund(TOTAL_FEN - 3_000 + 1, "more", actor="as-1", at=AT)
    assert refused.value.reason == "REFUND_EXCEEDS_PAYMENT"
    assert order.refunded_fen == 3_000 and len(order.new_refunds) == 1
    order.record_refund(TOTAL_FEN - 3_000, "the rest", actor="as-1", at=AT)
    assert order.refunded_fen == order.paid_fen


# -------------------------------------------------------------------------------------- amendments


def test_ord_7_amendments_change_the_order_and_say_so_without_personal_data() -> None:
    order = order_in(S.REVIEWED)
    order.change_address(OTHER_ADDRESS, "  buyer moved  ", actor=ACTOR, at=AT)
    order.change_carrier("sf", actor=ACTOR, at=AT)
    order.split_shipment(
        [
            Shipment(ADDRESS, (("LJ-250-GRN", 1),)),
            Shipment(OTHER_ADDRESS, (("LJ-250-GRN", 1), ("LJ-250-GRN", 1))),
        ],
        actor=ACTOR,
        at=AT,
    )
    order.request_invoice(Invoice("Hangzhou Tea Co.", ""), actor=ACTOR, at=AT)
    assert order.address == OTHER_ADDRESS
    assert (order.amendments.carrier_code, order.amendments.invoice) == (
        "sf",
        Invoice("Hangzhou Tea Co.", ""),
    )
    # One line per SKU in each shipment.
    assert [s.lines for s in order.amendments.shipments] == [(("LJ-250-GRN", 1),), (("LJ-250-GRN", 2),)]
    assert [(e.event, e.reason) for e in order.new_timeline] == [
        ("address changed", "buyer moved"),
        ("carrier changed", "sf"),
        ("split into shipments", "2 shipments"),
        ("invoice requested", ""),
    ]
    assert not any("Ningbo" in e.reason for e in order.new_timeline)
    assert order.status is S.REVIEWED and not order.pending_events


def test_ord_7_a_split_must_hold_exactly_the_orders_units() -> None:
    order = order_in(S.PAID)
    with pytest.raises(InvalidArgument) as refused:
        order.split_shipment(
            [Shipment(ADDRESS, (("LJ-250-GRN", 1),)), Shipment(OTHER_ADDRESS, (("LJ-250-GRN", 1),))],
            actor=ACTOR,
            at=AT,
        )
    assert [v.field for v in refused.value.violations] == ["shipments"]
    assert (order.amendments.shipments, order.new_timeline) == ((), ())


# ------------------------------------------------------------------------------ the reservation state


RESERVATION_STEPS = {
    (R.NONE, R.RESERVING),
    (R.RESERVING, R.RESERVED),
    (R.RESERVING, R.NONE),
    (R.RESERVING, R.RELEASING),
    (R.RESERVED, R.RELEASING),
    (R.RESERVED, R.NONE),
    (R.RELEASING, R.RELEASED),
}
PAIRS = list(itertools.product(ReservationState, ReservationState))


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a.value}-to-{b.value}" for a, b in PAIRS])
def test_ord_2_ord_5_reservation_steps(current: ReservationState, target: ReservationState) -> None:
    """ORD-2, ORD-5: asked for, then reserved, refused (none) or given back when cancelled while asking;
    once reserved, given back (ORD-5) or cut by a count (INV-13); once given back, done."""
    if (current, target) in RESERVATION_STEPS:
        check_reservation_step(current, target)
        return
    with pytest.raises(FailedPrecondition) as refused:
        check_reservation_step(current, target)
    assert refused.value.reason == "RESERVATION_STATE"
    assert [v.field for v in refused.value.violations] == ["order_id"]


#: The reservation each reservation command leaves, from each reservation state (the order in the status
#: the command is made in); KEPT: as it was.
KEPT = "kept"
RESERVATION_COMMANDS: dict[str, tuple[OrderStatus, Callable[[Order], object], dict[ReservationState, object]]] = {
    "review": (
        S.PAID,
        SPECS["review"].run,
        {
            R.NONE: R.RESERVING, R.RESERVING: KEPT, R.RESERVED: Refused(),
            R.RELEASING: Refused("RESERVATION_STATE"), R.RELEASED: Refused("RESERVATION_STATE"),
        },
    ),
    "reserved": (S.PAID, SPECS["reserved"].run, {R.RESERVING: R.RESERVED}),
    "reservation_refused": (S.PAID, SPECS["reservation_refused"].run, {R.RESERVING: R.NONE}),
    "reservation_unconfirmed": (S.PAID, SPECS["reservation_unconfirmed"].run, {}),
    "reservation_cut": (S.REVIEWED, SPECS["reservation_cut"].run, {R.RESERVED: R.NONE}),
    "cancel": (S.PAID, SPECS["cancel"].run, {R.RESERVING: R.RELEASING, R.RESERVED: R.RELEASING}),
    "start_releasing": (S.CANCELLED, SPECS["start_releasing"].run, {R.RESERVING: R.RELEASING, R.RESERVED: R.RELEASING}),
    "reservation_released": (S.CANCELLED, SPECS["reservation_released"].run, {R.RELEASING: R.RELEASED}),
}  # fmt: skip
RESERVATION_MATRIX = list(itertools.product(RESERVATION_COMMANDS, ReservationState))


@pytest.mark.parametrize(
    ("command", "reservation"),
    RESERVATION_MATRIX,
    ids=[f"{c}-from-{r.value}" for c, r in RESERVATION_MATRIX],
)
def test_ord_2_ord_5_every_reservation_command_from_every_reservation_state(
    command: str, reservation: ReservationState
) -> None:
    """The saga's steps and answers (ORD-2, ORD-5, INV-13) from each reservation state: a step moves the
    reservation only as its state machine allows; an answer that finds its step closed changes nothing."""
    status, run, table = RESERVATION_COMMANDS[command]
    order = order_in(status, reservation=reservation)
    expected = table.get(reservation, KEPT)
    if isinstance(expected, Refused):
        before = snapshot(order)
        with pytest.raises(FailedPrecondition) as refused:
            run(order)
        assert refused.value.reason == expected.reason
        assert snapshot(order) == before
        return
    run(order)
    assert order.reservation is (reservation if expected == KEPT else expected)


def test_ord_5_an_order_that_is_not_cancelled_keeps_its_stock() -> None:
    """ORD-5: only a cancelled order gives its reservation back."""
    with pytest.raises(FailedPrecondition) as refused:
        order_in(S.REVIEWED).start_releasing()
    assert refused.value.violations[0].description == "an order that is reviewed keeps its reserved stock"


def test_ord_1_the_same_order_sent_again_is_recognised_and_another_reusing_its_id_is_not() -> None:
    """ORD-1: a channel's retry is the same order; other goods, shop or buyer under the same channel order
    id is another order reusing it (refused with 409 by the service)."""
    first = incoming(None)
    order = Order.receive("o-1", first, actor="tmall", at=AT)
    assert order.sent_as(first)
    assert not order.sent_as(replace(first, shop_code="jd-outlet"))
    assert not order.sent_as(replace(first, buyer_id="someone-else"))
    assert not order.sent_as(replace(first, lines=(replace(first.lines[0], quantity=9), *first.lines[1:])))
    assert not order.sent_as(replace(first, discount_fen=first.discount_fen + 100))


def test_ord_7_the_shipping_plan_is_the_split_or_else_the_whole_order() -> None:
    """LOG-1 ships what ORD-7 decided: an unsplit order is one shipment to its address with one line per
    SKU; a split order ships its shipments."""
    order = order_in(
        S.REVIEWED, lines=(OrderLine("B", 1, 100), OrderLine("A", 2, 100), OrderLine("B", 2, 100))
    )
    (whole,) = order.shipping_plan()
    assert (whole.address, whole.lines) == (ADDRESS, (("A", 2), ("B", 3)))
    order = order_in(S.REVIEWED)
    order.split_shipment(SPLIT, actor=ACTOR, at=AT)
    assert order.shipping_plan() == order.amendments.shipments
    assert len(order.shipping_plan()) == len(SPLIT)


def test_log_5_a_parcel_that_is_not_the_last_leaves_the_order_released() -> None:
    """LOG-5: a split order's first parcel is on the timeline; the order ships with its last one."""
    order = order_in(S.RELEASED)
    order.parcel_dispatched("sf", "SF0000000001", all_left=False, actor=ACTOR, at=AT)
    assert order.status is S.RELEASED
    assert [(e.event, e.reason) for e in order.new_timeline] == [("parcel dispatched", "sf SF0000000001")]
    order.parcel_dispatched("zto", "ZT0000000002", all_left=True, actor=ACTOR, at=AT)
    assert order.status.value == "shipped"
    assert order.new_timeline[-1].reason == "zto ZT0000000002"


def test_log_6_a_parcel_that_is_not_the_last_delivered_leaves_the_order_shipped() -> None:
    """LOG-6, ORD-4: a split order's first delivered parcel is on the timeline; the order is delivered
    with its last one."""
    order = order_in(S.SHIPPED)
    order.parcel_delivered("SF0000000001", all_delivered=False, actor=ACTOR, at=AT)
    assert order.status is S.SHIPPED
    assert [(e.event, e.reason) for e in order.new_timeline] == [("parcel delivered", "SF0000000001")]
    assert [e.to_status for e in order.pending_events] == []
    order.parcel_delivered("ZT0000000002", all_delivered=True, actor=ACTOR, at=AT)
    assert order.status.value == "delivered"
    assert (order.new_timeline[-1].event, order.new_timeline[-1].reason) == ("delivered", "ZT0000000002")
    assert [(e.from_status, e.to_status) for e in order.pending_events] == [(S.SHIPPED, S.DELIVERED)]


def test_log_6_each_step_of_a_parcel_exception_case_is_on_the_timeline_and_keeps_the_status() -> None:
    """LOG-6, ORD-4: opened, assigned, customer told and resolved each add one entry with actor, time, the
    kind and the detail; the order stays shipped and publishes nothing."""
    order = order_in(S.SHIPPED)
    steps = [
        ("opened", "lost: carrier event E3"),
        ("assigned", "logistics_clerk -> clerk-2"),
        ("customer told", "phone: a new parcel is on its way"),
        ("resolved", ""),
    ]
    for what, detail in steps:
        order.parcel_exception("lost", what, detail, actor="clerk-2", at=AT)
    assert order.status is S.SHIPPED
    assert [e.to_status for e in order.pending_events] == []
    assert [(e.event, e.reason, e.actor, e.at) for e in order.new_timeline] == [
        ("parcel exception", "lost case opened: lost: carrier event E3", "clerk-2", AT),
        ("parcel exception", "lost case assigned: logistics_clerk -> clerk-2", "clerk-2", AT),
        ("parcel exception", "lost case customer told: phone: a new parcel is on its way", "clerk-2", AT),
        ("parcel exception", "lost case resolved", "clerk-2", AT),
    ]
