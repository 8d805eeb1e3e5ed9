"""Order review (审单, ORD-2, ORD-3): what must hold before an order goes to the warehouse."""

from __future__ import annotations

import re
from dataclasses import dataclass

from libs.errors import InvalidArgument
from services.orders.domain.intake import Address

#: ORD-3: a review batch holds at most 200 orders, so special orders can still be found.
MAX_BATCH = 200

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}-?\d{7,8}$")


@dataclass(frozen=True)
class ReviewFinding:
    """Why an order cannot pass review; ``code`` is stable, ``detail`` is for people."""

    code: str
    detail: str


def check_batch_size(count: int) -> None:
    if count < 1:
        raise InvalidArgument.for_field("order_ids", "name at least one order to review")
    if count > MAX_BATCH:
        raise InvalidArgument.for_field(
            "order_ids", f"a review batch holds at most {MAX_BATCH} orders (ORD-3), got {count}"
        )


def address_findings(address: Address) -> list[ReviewFinding]:
    """ORD-2: the address is complete (recipient, phone, province, city, district, street) and valid."""
    missing = [
        name
        for name in ("recipient", "phone", "province", "city", "district", "street")
        if not getattr(address, name).strip()
    ]
    findings = [ReviewFinding("ADDRESS_INCOMPLETE", f"address lacks {', '.join(missing)}")] if missing else []
    phone = address.phone.replace(" ", "")
    if phone and not (_MOBILE.match(phone) or _LANDLINE.match(phone)):
        findings.append(
            ReviewFinding("PHONE_INVALID", "the phone is neither a mainland mobile nor a landline")
        )
    if address.street.strip() and len(address.street.strip()) < 4:
        findings.append(ReviewFinding("ADDRESS_INVALID", "the street address is too short to deliver to"))
    return findings


def review_findings(
    *, paid: bool, address: Address, buyer_message: str, service_note: str, notes_resolved: bool
) -> list[ReviewFinding]:
    """Everything that stops an order passing review, before stock is reserved (ORD-2).

    A buyer message or a customer-service note must be honoured: the order waits until customer service
    marks its notes resolved.
    """
    findings: list[ReviewFinding] = []
    if not paid:
        findings.append(ReviewFinding("PAYMENT_UNCONFIRMED", "payment is not confirmed"))
    findings += address_findings(address)
    if (buyer_message.strip() or service_note.strip()) and not notes_resolved:
        findings.append(
            ReviewFinding("NOTES_UNRESOLVED", "the buyer's or customer service's notes are not resolved")
        )
    return findings
