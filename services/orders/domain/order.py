"""The order aggregate: one object owns an order's state and guards every change of it (ORD-2, ORD-4, ORD-5,
ORD-7).

A command checks that the change is allowed from where the order stands (refused with FailedPrecondition
naming ``order_id``, the order left as it was), applies it, and records what it caused: the entries it adds
to the order's timeline (ORD-4: every change, with actor and time) and the events other services learn of.

The reservation saga books the inventory service's answers through commands too (``reserved``,
``reservation_refused``, ``reservation_unconfirmed``, ``reservation_released``). An answer that is late or
booked already changes nothing, so a step repeated after a crash is harmless.

Nothing here reads or writes anywhere: ``store.order_repository`` loads an order and saves what its commands
recorded, in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from libs.errors import DomainError, FailedPrecondition, InvalidArgument
from services.orders.domain import amendments as rules
from services.orders.domain.amendments import Amendments, Invoice, Shipment
from services.orders.domain.intake import Address, Channel, IncomingOrder, OrderLine, Payment
from services.orders.domain.review import ReviewFinding, review_findings
from services.orders.domain.states import (
    BEFORE_RELEASE,
    HoldCategory,
    OrderStatus,
    ReservationState,
    TimelineEntry,
    check_reservation_step,
    check_transition,
)

S = OrderStatus
R = ReservationState

#: ORD-2: orders that may be reviewed: paid, or in the exception queue waiting to be retried.
REVIEWABLE = frozenset({S.PAID, S.ON_HOLD})
#: Reviewing these again changes nothing.
REVIEW_DONE = frozenset({S.REVIEWED, S.RELEASED})
#: ORD-2: customer service may honour the notes until the order is reviewed.
NOTES_OPEN = frozenset({S.PENDING_PAYMENT, S.PAID, S.ON_HOLD})
#: Orders that hold reserved stock a count can cut (INV-13).
HOLDING_STOCK = frozenset({S.REVIEWED, S.RELEASED})
#: Reservations a cancelled order gives back: made, or perhaps made (the answer was not booked).
TO_GIVE_BACK = frozenset({R.RESERVING, R.RESERVED})


@dataclass(frozen=True)
class StatusChanged:
    """The order moved one step of ORD-4, or arrived (``from_status`` None): a fact others learn of."""

    order_id: str
    channel: Channel
    shop_code: str
    from_status: OrderStatus | None
    to_status: OrderStatus
    total_fen: int
    at: datetime
    reason: str = ""


@dataclass(frozen=True)
class Refund:
    """A refund recorded on the order (ORD-4), the minus side of net sales (ORD-9)."""

    refund_id: str
    amount_fen: int
    reason: str
    refunded_by: str
    at: datetime


def _refused(message: str, reason: str = "ORDER_STATE") -> DomainError:
    return FailedPrecondition.for_field("order_id", message, reason=reason)


@dataclass(eq=False)
class Order:
    """An order and the state machines it runs: its status (ORD-4) and its stock reservation."""

    order_id: str
    channel: Channel
    channel_order_id: str
    shop_code: str
    buyer_id: str
    address: Address
    lines: tuple[OrderLine, ...]
    buyer_message: str
    goods_fen: int
    discount_fen: int
    shipping_fee_fen: int
    total_fen: int
    created_at: datetime
    status: OrderStatus
    service_note: str = ""
    notes_resolved: bool = False
    hold_category: HoldCategory | None = None
    hold_reason: str = ""
    reservation: ReservationState = ReservationState.NONE
    paid_fen: int = 0
    paid_at: datetime | None = None
    payment_reference: str = ""
    refunded_fen: int = 0
    reviewed_at: datetime | None = None
    amendments: Amendments = field(default_factory=Amendments)
    _timeline: list[TimelineEntry] = field(default_factory=list, init=False, repr=False)
    _events: list[StatusChanged] = field(default_factory=list, init=False, repr=False)
    _refunds: list[Refund] = field(default_factory=list, init=False, repr=False)

    # ------------------------------------------------------------------------------------------ intake

    def sent_as(self, incoming: IncomingOrder) -> bool:
        """ORD-1: whether ``incoming`` is this order sent again rather than another order reusing its
        channel order id. Compared on what the channel decides and nothing after intake changes (the
        address and the shipments may be amended): the shop, the buyer, the goods and, for a platform's
        order, its fee and discount (an own-site order's discount is priced here)."""

        def goods(lines: tuple[OrderLine, ...]) -> dict[tuple[str, int], int]:
            units: dict[tuple[str, int], int] = {}
            for line in lines:
                key = (line.sku_code, line.unit_price_fen)
                units[key] = units.get(key, 0) + line.quantity
            return units

        same = (
            self.shop_code == incoming.shop_code
            and self.buyer_id == incoming.buyer_id
            and goods(self.lines) == goods(incoming.lines)
            and self.buyer_message == incoming.buyer_message.strip()
        )
        if incoming.channel is not Channel.OWN_SITE:
            same = same and (self.shipping_fee_fen, self.discount_fen) == (
                incoming.shipping_fee_fen,
                incoming.discount_fen,
            )
        return same

    @classmethod
    def receive(cls, order_id: str, incoming: IncomingOrder, *, actor: str, at: datetime) -> Order:
        """ORD-1: a new order as its channel sent it: pending payment, or paid when the channel says so."""
        order = cls(
            order_id=order_id, channel=incoming.channel, channel_order_id=incoming.channel_order_id,
            shop_code=incoming.shop_code, buyer_id=incoming.buyer_id, address=incoming.address,
            lines=incoming.lines, buyer_message=incoming.buyer_message, goods_fen=incoming.goods_fen,
            discount_fen=incoming.discount_fen, shipping_fee_fen=incoming.shipping_fee_fen,
            total_fen=incoming.total_fen, created_at=at, status=S.PENDING_PAYMENT,
        )  # fmt: skip
        order._record(actor, at, "received", to_status=S.PENDING_PAYMENT)
        payment = incoming.payment
        if payment is not None:
            order._take_payment(payment)
            order.status = S.PAID
            order._record(actor, at, "paid", S.PENDING_PAYMENT, S.PAID)
        # One event for the arrival, in the status it arrived in: pay counts a paid arrival (ORD-9).
        order._events.append(
            StatusChanged(
                order_id, order.channel, order.shop_code, None, order.status, order.total_fen,
                payment.paid_at if payment else at,
            )
        )  # fmt: skip
        return order

    def confirm_payment(self, payment: Payment, *, actor: str, at: datetime) -> None:
        """ORD-4: the channel confirms the payment: pending payment -> paid. The amount must equal the total;
        the same payment confirmed again changes nothing."""
        if self.status is not S.PENDING_PAYMENT:
            if self.paid_fen == payment.amount_fen and self.payment_reference == payment.reference:
                return
            raise _refused(f"the order is already {self.status.value}")
        if payment.amount_fen != self.total_fen:
            raise InvalidArgument.for_field(
                "payment.amount", f"must equal the order total of {self.total_fen} fen"
            )
        self._move(S.PAID, actor=actor, at=at, event="paid")
        self._take_payment(payment)

    def resolve_notes(self, note: str, *, actor: str, at: datetime) -> None:
        """ORD-2: customer service records its note and marks the buyer's and its own notes honoured."""
        if self.status not in NOTES_OPEN:
            raise _refused(f"the order is already {self.status.value}")
        self.service_note = note.strip()
        self.notes_resolved = True
        self._record(actor, at, "notes resolved", reason=note)

    # ------------------------------------------------------------------------------------------ review

    def review_findings(self) -> list[ReviewFinding]:
        """ORD-2: everything that stops the order passing review before its stock is reserved."""
        return review_findings(
            paid=self.paid_fen > 0 and self.paid_fen == self.total_fen,
            address=self.address,
            buyer_message=self.buyer_message,
            service_note=self.service_note,
            notes_resolved=self.notes_resolved,
        )

    def review(self, *, actor: str, at: datetime) -> bool:
        """ORD-2: reviews the order: payment confirmed, address complete and valid, notes honoured.

        An order that fails goes to the exception queue (on hold, review failed) with its findings. One that
        passes asks for its stock (``reserving``) and True is returned: the caller reserves it at the
        inventory service and books the answer. Reviewing a reviewed or released order changes nothing.
        """
        if self.status in REVIEW_DONE:
            return False
        if self.status not in REVIEWABLE or self.reservation is R.RESERVED:
            raise _refused(f"an order that is {self.status.value} cannot be reviewed")
        findings = self.review_findings()
        if findings:
            self._hold(
                HoldCategory.REVIEW_FAILED,
                "; ".join(f"{f.code}: {f.detail}" for f in findings),
                actor=actor, at=at, event="review failed",
            )  # fmt: skip
            return False
        if self.reservation is not R.RESERVING:
            self._reservation_becomes(R.RESERVING)
            self._record(actor, at, "stock reservation requested")
        return True

    def reserved(self, *, actor: str, at: datetime) -> None:
        """The inventory service reserved the order's stock: the order is reviewed (ORD-2).

        An answer booked already changes nothing; one for an order cancelled meanwhile gives the stock back.
        """
        if self.reservation is not R.RESERVING:
            return
        if self.status is S.CANCELLED:
            self.start_releasing()
            return
        self._move(
            S.REVIEWED, actor=actor, at=at, event="reviewed",
            reason="payment, address and notes checked; stock reserved",
        )  # fmt: skip
        self._reservation_becomes(R.RESERVED)
        self.reviewed_at = at

    def reservation_refused(self, detail: str, *, short_stock: bool, actor: str, at: datetime) -> None:
        """The inventory service refused the reservation: nothing is reserved. Short stock waits in the
        exception queue for stock to arrive (reviewed again by itself then); anything else, such as an
        unknown SKU, needs a person. An answer booked already changes nothing."""
        if self.reservation is not R.RESERVING:
            return
        if self.status in REVIEWABLE:
            category = HoldCategory.SHORT_STOCK if short_stock else HoldCategory.REVIEW_FAILED
            self._hold(category, f"STOCK: {detail}", actor=actor, at=at, event="stock not reserved")
        self._reservation_becomes(R.NONE)

    def reservation_unconfirmed(self, cause: str, *, actor: str, at: datetime) -> None:
        """The inventory service did not answer (``cause``): the order waits in the exception queue as a
        system fault while the step is repeated. An answer booked already changes nothing."""
        if self.status in REVIEWABLE and self.reservation is R.RESERVING:
            self._hold(
                HoldCategory.SYSTEM_FAULT, f"inventory unavailable ({cause}); retried automatically",
                actor=actor, at=at, event="reservation not confirmed",
            )  # fmt: skip

    def reservation_cut(self, reason: str, *, actor: str, at: datetime) -> None:
        """INV-13, ORD-2: a count found fewer units than the order had reserved, and the inventory service
        cut its reservation. An order holding stock goes on hold for short stock and is reviewed again when
        stock arrives; any other only notes the cut on its timeline."""
        if self.status in HOLDING_STOCK:
            self._hold(
                HoldCategory.SHORT_STOCK,
                f"STOCK: {reason}",
                actor=actor,
                at=at,
                event="stock reservation cut",
            )
        else:
            self._record(actor, at, "stock reservation cut", reason=reason)
        if self.reservation is R.RESERVED:
            self._reservation_becomes(R.NONE)

    # ------------------------------------------------------------------------------ release and cancel

    def release_to_warehouse(self, *, actor: str, at: datetime) -> None:
        """ORD-4: a reviewed order goes to the warehouse; releasing it again changes nothing."""
        if self.status is S.RELEASED:
            return
        self._move(S.RELEASED, actor=actor, at=at, event="released to warehouse")

    def parcel_dispatched(
        self, carrier_code: str, tracking_number: str, *, all_left: bool, actor: str, at: datetime
    ) -> None:
        """LOG-5, ORD-4: a parcel of the order left with its tracking number (on the timeline); once every
        shipment of the order has left, the released order is shipped. An order past release already (a
        second parcel of a split order) only gains the timeline entry."""
        reason = f"{carrier_code} {tracking_number}"
        if all_left and self.status is S.RELEASED:
            self._move(S.SHIPPED, actor=actor, at=at, event="shipped", reason=reason)
        else:
            self._record(actor, at, "parcel dispatched", reason=reason)

    def parcel_delivered(
        self, tracking_number: str, *, all_delivered: bool, actor: str, at: datetime
    ) -> None:
        """LOG-6, ORD-4: a parcel of the order was delivered (on the timeline); once every parcel of it is,
        the shipped order is delivered. Any other parcel (a split order's first) only gains the entry."""
        if all_delivered and self.status is S.SHIPPED:
            self._move(S.DELIVERED, actor=actor, at=at, event="delivered", reason=tracking_number)
        else:
            self._record(actor, at, "parcel delivered", reason=tracking_number)

    def parcel_exception(self, kind: str, what: str, detail: str, *, actor: str, at: datetime) -> None:
        """LOG-6, ORD-4: a step in the handling of one of the order's parcels gone wrong (lost, damaged or
        delayed: opened, assigned, customer told, resolved) goes on the timeline. Logistics handles the
        case, so the order's status stays whatever it is."""
        reason = f"{kind} case {what}: {detail}" if detail else f"{kind} case {what}"
        self._record(actor, at, "parcel exception", reason=reason)

    def shipping_plan(self) -> tuple[Shipment, ...]:
        """What the warehouse ships (LOG-1): the split of ORD-7 when there is one, else the whole order to
        its address, one line per SKU."""
        if self.amendments.shipments:
            return self.amendments.shipments
        return (Shipment(self.address, rules.merged_lines(self.lines)),)

    def cancel(self, reason: str, *, actor: str, at: datetime, warehouse_let_go: bool = False) -> None:
        """ORD-5: cancels the order. Its reservation is given back (``releasing``: the caller releases it at
        the inventory service and books the answer) and what the buyer paid is refunded in full, so net
        sales drop it (ORD-9). A released order is cancelled only once logistics accepted to withdraw it
        (``warehouse_let_go``: none of its parcels was packed); cancelling a cancelled order changes
        nothing."""
        if self.status is S.CANCELLED:
            return
        let_go = warehouse_let_go and self.status is S.RELEASED
        if self.status not in BEFORE_RELEASE and not let_go:
            raise _refused(
                f"the order is {self.status.value}: after release, logistics must accept the cancellation",
                reason="RELEASED_TO_WAREHOUSE",
            )
        self._move(S.CANCELLED, actor=actor, at=at, event="cancelled", reason=reason)
        self.start_releasing()
        owed = self.paid_fen - self.refunded_fen
        if owed > 0:
            self._refund(
                owed, f"order cancelled: {reason}", f"{owed} fen: order cancelled", actor=actor, at=at
            )

    def start_releasing(self) -> None:
        """ORD-5: a cancelled order gives back the stock it reserved, or may have reserved (``releasing``).
        With nothing to give back it changes nothing; an order that is not cancelled keeps its stock."""
        if self.reservation not in TO_GIVE_BACK:
            return
        if self.status is not S.CANCELLED:
            raise _refused(f"an order that is {self.status.value} keeps its reserved stock")
        self._reservation_becomes(R.RELEASING)

    def reservation_released(self, *, actor: str, at: datetime) -> None:
        """The inventory service gave the stock back. An answer booked already changes nothing."""
        if self.reservation is not R.RELEASING:
            return
        self._reservation_becomes(R.RELEASED)
        self._record(actor, at, "stock reservation released")

    # ------------------------------------------------------------------------------------------ refunds

    def record_refund(self, amount_fen: int, reason: str, *, actor: str, at: datetime) -> Refund:
        """ORD-4: records a refund (partial or full) of a paid order; all refunds never exceed the payment."""
        if self.status is S.PENDING_PAYMENT:
            raise _refused("nothing was paid yet")
        reason = reason.strip()
        return self._refund(amount_fen, reason[:500], f"{amount_fen} fen: {reason[:200]}", actor=actor, at=at)

    # --------------------------------------------------------------------------------------- amendments

    def change_address(self, address: Address, reason: str, *, actor: str, at: datetime) -> None:
        """ORD-7: ships to another (valid) address. The timeline says that the address changed, not what it
        is: no personal data in reasons."""
        self._check_amendable()
        self.address = address
        self._record(actor, at, "address changed", reason=reason.strip()[:200])

    def change_carrier(self, carrier_code: str, *, actor: str, at: datetime) -> None:
        """ORD-7: ships with another carrier."""
        self._check_amendable()
        self.amendments = replace(self.amendments, carrier_code=carrier_code)
        self._record(actor, at, "carrier changed", reason=carrier_code)

    def split_shipment(self, shipments: list[Shipment], *, actor: str, at: datetime) -> None:
        """ORD-7 分地址发: ships the order's units in several shipments; a later split replaces an earlier one
        (the timeline keeps both)."""
        self._check_amendable()
        split = rules.split(self.lines, shipments)
        self.amendments = replace(self.amendments, shipments=tuple(split))
        self._record(actor, at, "split into shipments", reason=f"{len(split)} shipments")

    def request_invoice(self, invoice: Invoice, *, actor: str, at: datetime) -> None:
        """ORD-7 开发票: records the buyer's invoice request."""
        self._check_amendable()
        self.amendments = replace(self.amendments, invoice=invoice)
        self._record(actor, at, "invoice requested")

    # ------------------------------------------------------------------------------- what was recorded

    @property
    def new_timeline(self) -> tuple[TimelineEntry, ...]:
        """Timeline entries the commands added since the order was loaded or saved."""
        return tuple(self._timeline)

    @property
    def pending_events(self) -> tuple[StatusChanged, ...]:
        """Events the commands caused since the order was loaded or saved, oldest first."""
        return tuple(self._events)

    @property
    def new_refunds(self) -> tuple[Refund, ...]:
        """Refunds the commands recorded since the order was loaded or saved."""
        return tuple(self._refunds)

    def clear_pending(self) -> None:
        """Forgets the recorded timeline entries, events and refunds once they are stored."""
        self._timeline.clear()
        self._events.clear()
        self._refunds.clear()

    # --------------------------------------------------------------------------------------- internals

    def _move(
        self,
        target: OrderStatus,
        *,
        actor: str,
        at: datetime,
        event: str,
        reason: str = "",
        hold: HoldCategory | None = None,
    ) -> None:
        """One step of ORD-4: on the timeline and as an event. Leaving a status leaves its hold too."""
        check_transition(self.status, target)
        self._record(actor, at, event, self.status, target, reason)
        self._events.append(
            StatusChanged(
                self.order_id, self.channel, self.shop_code, self.status, target, self.total_fen, at, reason
            )
        )
        self.status = target
        self.hold_category = hold
        self.hold_reason = reason if hold else ""

    def _hold(self, category: HoldCategory, reason: str, *, actor: str, at: datetime, event: str) -> None:
        """ORD-2, ORD-4: into the exception queue, with the category and reason it is handled by."""
        self._move(S.ON_HOLD, actor=actor, at=at, event=event, reason=reason, hold=category)

    def _reservation_becomes(self, target: ReservationState) -> None:
        check_reservation_step(self.reservation, target)
        self.reservation = target

    def _take_payment(self, payment: Payment) -> None:
        self.paid_fen = payment.amount_fen
        self.paid_at = payment.paid_at
        self.payment_reference = payment.reference

    def _refund(self, amount_fen: int, reason: str, note: str, *, actor: str, at: datetime) -> Refund:
        if self.refunded_fen + amount_fen > self.paid_fen:
            raise FailedPrecondition.for_field(
                "amount", "refunds would exceed what the buyer paid", reason="REFUND_EXCEEDS_PAYMENT"
            )
        refund = Refund(str(uuid.uuid4()), amount_fen, reason, actor, at)
        self.refunded_fen += amount_fen
        self._refunds.append(refund)
        self._record(actor, at, "refunded", reason=note)
        return refund

    def _check_amendable(self) -> None:
        rules.check_amendable(self.status)

    def _record(
        self,
        actor: str,
        at: datetime,
        event: str,
        from_status: OrderStatus | None = None,
        to_status: OrderStatus | None = None,
        reason: str = "",
    ) -> None:
        self._timeline.append(TimelineEntry(at, actor, event, from_status, to_status, reason))
