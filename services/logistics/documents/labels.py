"""Shipping labels (面单, LOG-2, LOG-5): one 100 x 150 mm page per parcel, the thermal label size Chinese
express carriers print.

From the top: the carrier; a Code 128 barcode of the tracking number (of the parcel id while the carrier
has not assigned one); the recipient with a masked phone number and the full address; the sender (the
shop); and the parcel with its weight. When the big barcode is the tracking number, a small one of the
parcel id is printed as well: the verification station (LOG-3) matches the label to the packing slip by
parcel id, and a courier's scanner reads the tracking number.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepInFrame

from libs.errors import InvalidArgument
from services.logistics.documents.barcodes import code128
from services.logistics.documents.fonts import FONT, register_font
from services.logistics.documents.layout import AUTHOR, BODY, SMALL, para
from services.logistics.documents.model import Label

LABEL_SIZE = (100 * mm, 150 * mm)
#: White border kept clear on every side: thermal printers do not print to the edge.
PAD = 4 * mm
#: Digits of a phone number always hidden on a label: a label is read by everyone who handles the parcel.
HIDDEN_DIGITS = 4

NAME = ParagraphStyle("label_name", parent=BODY, fontSize=14, leading=18)
ADDRESS = ParagraphStyle("label_address", parent=BODY, fontSize=12, leading=15)


def mask_phone(phone: str) -> str:
    """A phone number as a label shows it: the middle digits starred, e.g. ``138****5678``.

    Spaces and dashes are dropped first. A number of 11 characters or more keeps its first 3 and last 4
    (a mainland mobile number, or one with a country code); a shorter one keeps at most its last 4, and
    at least ``HIDDEN_DIGITS`` are always hidden.
    """
    digits = "".join(ch for ch in phone if not ch.isspace() and ch != "-")
    n = len(digits)
    if n >= 11:
        return digits[:3] + "*" * (n - 7) + digits[-4:]
    keep = max(0, min(4, n - HIDDEN_DIGITS))
    return "*" * (n - keep) + digits[n - keep :]


def labels_pdf(labels: Sequence[Label]) -> bytes:
    """The shipping labels of ``labels`` as a PDF, one 100 x 150 mm page per label, in the order given
    (the caller puts them in print order, LOG-1). Refused (InvalidArgument) when there are none, or when
    a barcode value is too long to print readably."""
    if not labels:
        raise InvalidArgument.for_field("labels", "must hold at least one label")
    register_font()
    buffer = io.BytesIO()
    # The stubs type initialFontName as a number; reportlab takes a font name. Setting it keeps the
    # default Helvetica out of the file, so every piece of text is in the document font.
    canvas = Canvas(buffer, pagesize=LABEL_SIZE, invariant=1, initialFontName=FONT)  # type: ignore[arg-type]
    canvas.setTitle("面单 Shipping labels")
    canvas.setAuthor(AUTHOR)
    canvas.setCreator(AUTHOR)
    for i, label in enumerate(labels):
        _draw_label(canvas, label, f"labels[{i}]")
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _y(from_top_mm: float) -> float:
    """The page height of a point ``from_top_mm`` below the label's top edge (PDF measures upwards)."""
    return LABEL_SIZE[1] - from_top_mm * mm


def _draw_label(canvas: Canvas, label: Label, path: str) -> None:
    width = LABEL_SIZE[0]
    inner = width - 2 * PAD

    # The carrier, large: the packer sorts parcels into carrier zones by it (LOG-4).
    canvas.setFont(FONT, 18)
    canvas.drawString(PAD, _y(11), label.carrier_name)
    canvas.setFont(FONT, 9)
    canvas.drawRightString(width - PAD, _y(11), label.carrier_code)
    _rule(canvas, 14)

    if label.tracking_number:
        caption, value, field = "运单号 Tracking no.", label.tracking_number, "tracking_number"
    else:
        caption, value, field = "包裹号 Parcel no.", label.parcel_id, "parcel_id"
    canvas.setFont(FONT, 8)
    canvas.drawString(PAD, _y(18), caption)
    main = code128(value, max_width=inner, bar_height=22 * mm, font_size=11, field=f"{path}.{field}")
    main.drawOn(canvas, (width - main.width) / 2, _y(42))
    _rule(canvas, 49)

    # The recipient block shrinks to fit, so a long address never runs into the sender.
    address = label.address
    recipient = KeepInFrame(
        inner,
        44 * mm,
        [
            para("收件人 To", SMALL),
            para(f"{address.recipient}  {mask_phone(address.phone)}", NAME),
            para(address.full, ADDRESS),
        ],
        mode="shrink",
    )
    _, used = recipient.wrapOn(canvas, inner, 44 * mm)
    recipient.drawOn(canvas, PAD, _y(51) - used)
    _rule(canvas, 97)

    canvas.setFont(FONT, 10)
    canvas.drawString(PAD, _y(103), f"寄件人 From: {label.shop_code}")
    _rule(canvas, 106)

    canvas.drawString(PAD, _y(112), f"包裹 Parcel: {label.parcel_id}")
    weight = f"{label.weight_grams} g" if label.weight_grams is not None else "—"
    canvas.drawRightString(width - PAD, _y(112), f"重量 Weight: {weight}")
    if label.tracking_number:
        small = code128(
            label.parcel_id, max_width=inner * 0.7, bar_height=12 * mm, font_size=9, field=f"{path}.parcel_id"
        )
        small.drawOn(canvas, (width - small.width) / 2, _y(132))


def _rule(canvas: Canvas, from_top_mm: float) -> None:
    canvas.setLineWidth(0.8)
    canvas.line(PAD, _y(from_top_mm), LABEL_SIZE[0] - PAD, _y(from_top_mm))
