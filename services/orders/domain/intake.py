"""Order intake from shop channels (ORD-1): the shape of an order as a channel sends it.

Intake accepts what a channel sends as long as it is well-formed; whether the order may ship (payment,
a complete and valid address, notes honoured, stock) is the review's question (ORD-2), so a doubtful
order lands in the exception queue with its reason instead of being refused at the door.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from libs.errors import Violations
from libs.money import CURRENCY

MAX_LINES = 200
MAX_QUANTITY = 9_999
MAX_PRICE_FEN = 100_000_000  # a million yuan per unit is a typo
MAX_TEXT = 500


class Channel(enum.Enum):
    TMALL = "tmall"
    TAOBAO = "taobao"
    JD = "jd"
    OWN_SITE = "own_site"


@dataclass(frozen=True)
class Address:
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    street: str


@dataclass(frozen=True)
class OrderLine:
    sku_code: str
    quantity: int
    unit_price_fen: int

    @property
    def amount_fen(self) -> int:
        return self.quantity * self.unit_price_fen


@dataclass(frozen=True)
class Payment:
    amount_fen: int
    paid_at: datetime
    reference: str


@dataclass(frozen=True)
class IncomingOrder:
    channel: Channel
    channel_order_id: str
    shop_code: str
    buyer_id: str
    address: Address
    lines: tuple[OrderLine, ...]
    shipping_fee_fen: int
    discount_fen: int
    buyer_message: str
    payment: Payment | None

    @property
    def goods_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    @property
    def total_fen(self) -> int:
        """What the buyer pays: goods less discounts plus shipping; never negative (ORD-8)."""
        return max(0, self.goods_fen - self.discount_fen) + self.shipping_fee_fen


def _text(v: Violations, value: str, field: str, *, required: bool, limit: int = 200) -> str:
    value = value.strip()
    if required:
        v.require(bool(value), field, "is required")
    v.require(len(value) <= limit, field, f"must be at most {limit} characters")
    return value


def incoming_order(
    *,
    channel: Channel | None,
    channel_order_id: str,
    shop_code: str,
    buyer_id: str,
    address: Address,
    lines: list[tuple[str, int, int]],
    shipping_fee_fen: int,
    discount_fen: int,
    buyer_message: str,
    payment: Payment | None,
    currency_code: str,
    payment_must_cover_total: bool = True,
) -> IncomingOrder:
    """Validates an order from a channel; InvalidArgument names every offending field."""
    v = Violations()
    v.require(channel is not None, "channel", "must be tmall, taobao, jd or own_site")
    channel_order_id = _text(v, channel_order_id, "channel_order_id", required=True, limit=64)
    shop_code = _text(v, shop_code, "shop_code", required=True, limit=64)
    buyer_id = _text(v, buyer_id, "buyer_id", required=True, limit=64)
    v.require(currency_code in ("", CURRENCY), "currency_code", "orders are in CNY")
    clean_address = Address(
        recipient=_text(v, address.recipient, "address.recipient", required=False, limit=100),
        phone=_text(v, address.phone, "address.phone", required=False, limit=32),
        province=_text(v, address.province, "address.province", required=False, limit=50),
        city=_text(v, address.city, "address.city", required=False, limit=50),
        district=_text(v, address.district, "address.district", required=False, limit=50),
        street=_text(v, address.street, "address.street", required=False, limit=200),
    )
    v.require(bool(lines), "lines", "an order has at least one line")
    v.require(len(lines) <= MAX_LINES, "lines", f"must hold at most {MAX_LINES} lines")
    clean_lines: list[OrderLine] = []
    for i, (sku_code, quantity, price) in enumerate(lines):
        sku = _text(v, sku_code, f"lines[{i}].sku_code", required=True, limit=64)
        v.require(
            1 <= quantity <= MAX_QUANTITY, f"lines[{i}].quantity", f"must be between 1 and {MAX_QUANTITY}"
        )
        v.require(0 <= price <= MAX_PRICE_FEN, f"lines[{i}].unit_price", "must be 0 or more fen (and sane)")
        clean_lines.append(OrderLine(sku, quantity, price))
    v.require(0 <= shipping_fee_fen <= MAX_PRICE_FEN, "shipping_fee", "must be 0 or more fen")
    v.require(0 <= discount_fen <= MAX_PRICE_FEN, "discount", "must be 0 or more fen")
    message = _text(v, buyer_message, "buyer_message", required=False, limit=MAX_TEXT)
    if payment is not None:
        v.require(payment.amount_fen >= 0, "payment.amount", "must be 0 or more fen")
        v.require(len(payment.reference) <= 128, "payment.reference", "must be at most 128 characters")
    v.raise_if_any()
    assert channel is not None
    order = IncomingOrder(
        channel, channel_order_id, shop_code, buyer_id, clean_address, tuple(clean_lines),
        shipping_fee_fen, discount_fen, message, payment,
    )  # fmt: skip
    # An own-site checkout is priced with our promotions first; its payment is checked against that total.
    if payment_must_cover_total and payment is not None and payment.amount_fen != order.total_fen:
        v.add("payment.amount", f"must equal the order total of {order.total_fen} fen")
        v.raise_if_any()
    return order
