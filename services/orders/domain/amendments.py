"""Amendments before release to the warehouse (ORD-7): address, carrier, split shipments, invoice."""

from __future__ import annotations

import re
from dataclasses import dataclass

from libs.errors import FailedPrecondition, InvalidArgument, Violations
from services.orders.domain.intake import Address, OrderLine
from services.orders.domain.review import address_findings
from services.orders.domain.states import BEFORE_RELEASE, OrderStatus

_CARRIER = re.compile(r"^[a-z0-9_]{2,32}$")
_TAX_ID = re.compile(r"^[0-9A-Z]{15,20}$")  # unified social credit code (18) or older taxpayer numbers
MAX_SHIPMENTS = 10


def check_amendable(status: OrderStatus) -> None:
    """ORD-7: amendments are made before release; after it the warehouse already works on the order."""
    if status not in BEFORE_RELEASE:
        raise FailedPrecondition.for_field(
            "order_id", f"an order that is {status.value} can no longer be amended", reason="ORDER_RELEASED"
        )


def checked_address(address: Address, field: str = "address") -> Address:
    """A new address must itself be complete and valid, since the order may already be reviewed."""
    findings = address_findings(address)
    if findings:
        raise InvalidArgument.for_field(field, "; ".join(f.detail for f in findings), reason=findings[0].code)
    return address


def carrier(code: str) -> str:
    """A carrier code as kept (lower case); InvalidArgument naming ``carrier_code`` when malformed."""
    code = code.strip().lower()
    if not _CARRIER.match(code):
        raise InvalidArgument.for_field(
            "carrier_code", "must be 2-32 lower-case letters, digits or '_' (e.g. sf, zto)"
        )
    return code


@dataclass(frozen=True)
class Invoice:
    title: str
    tax_id: str


def invoice(title: str, tax_id: str) -> Invoice:
    """An invoice request (开发票) from what the buyer gave; InvalidArgument names every bad field."""
    v = Violations()
    v.require(bool(title.strip()), "title", "is required (the buyer's name or company)")
    v.require(len(title) <= 200, "title", "must be at most 200 characters")
    tax = tax_id.strip().upper()
    v.require(not tax or bool(_TAX_ID.match(tax)), "tax_id", "must be 15-20 digits or capital letters")
    v.raise_if_any()
    return Invoice(title.strip(), tax)


@dataclass(frozen=True)
class Shipment:
    address: Address
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Amendments:
    """What was amended on an order besides its address (ORD-7): carrier, invoice request, split."""

    carrier_code: str = ""
    invoice: Invoice | None = None
    shipments: tuple[Shipment, ...] = ()


def split(order_lines: tuple[OrderLine, ...], shipments: list[Shipment]) -> list[Shipment]:
    """ORD-7 分地址发: two or more shipments, each with a valid address, together holding exactly the order's
    units of each SKU; returned with one line per SKU in each shipment."""
    if not 2 <= len(shipments) <= MAX_SHIPMENTS:
        raise InvalidArgument.for_field("shipments", f"a split has 2 to {MAX_SHIPMENTS} shipments")
    for i, shipment in enumerate(shipments):
        checked_address(shipment.address, f"shipments[{i}].address")
        if not shipment.lines:
            raise InvalidArgument.for_field(f"shipments[{i}].lines", "a shipment carries at least one line")
        for j, (_, quantity) in enumerate(shipment.lines):
            if quantity < 1:
                raise InvalidArgument.for_field(f"shipments[{i}].lines[{j}].quantity", "must be at least 1")
    ordered: dict[str, int] = {}
    for line in order_lines:
        ordered[line.sku_code] = ordered.get(line.sku_code, 0) + line.quantity
    shipped: dict[str, int] = {}
    for shipment in shipments:
        for sku, quantity in shipment.lines:
            shipped[sku] = shipped.get(sku, 0) + quantity
    if shipped != ordered:
        raise InvalidArgument.for_field(
            "shipments",
            f"the shipments must hold exactly the order's units: ordered {ordered}, split {shipped}",
        )
    return [Shipment(s.address, _merged(s.lines)) for s in shipments]


def merged_lines(lines: tuple[OrderLine, ...]) -> tuple[tuple[str, int], ...]:
    """An order's units as one (SKU, units) line per SKU, in SKU order."""
    return _merged(tuple((line.sku_code, line.quantity) for line in lines))


def _merged(lines: tuple[tuple[str, int], ...]) -> tuple[tuple[str, int], ...]:
    """A shipment's lines with one line per SKU, in SKU order (as they are kept)."""
    units: dict[str, int] = {}
    for sku, quantity in lines:
        units[sku] = units.get(sku, 0) + quantity
    return tuple(sorted(units.items()))
