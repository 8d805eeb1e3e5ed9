"""Packing slips (发货清单, LOG-5): the list of what a parcel holds, put in the parcel.

One A5 page per parcel: the shop, a Code 128 barcode of the parcel id (the verification station scans it
and the label, and both must name the same parcel, LOG-3), the orders with their shop-channel order
numbers, the lines, and the buyer's message and service note. A slip too long for one page continues on
the next, and every page names its parcel in the footer, so a loose page finds its parcel again.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib.pagesizes import A5
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, PageBreak, Spacer, Table
from reportlab.platypus.doctemplate import BaseDocTemplate

from libs.errors import InvalidArgument
from services.logistics.documents.barcodes import code128
from services.logistics.documents.fonts import FONT, register_font
from services.logistics.documents.layout import (
    BODY,
    HEADING,
    TITLE,
    document_template,
    grid,
    para,
    single_frame,
    unruled,
)
from services.logistics.documents.model import PackingSlip

SLIP_MARGIN = 12 * mm
#: The printable width of an A5 page between the margins.
WIDTH = A5[0] - 2 * SLIP_MARGIN
TITLE_TEXT = "发货清单 Packing slip"


class _ParcelMark(Flowable):
    """Takes no room; when laid on a page, it records that the page's content belongs to ``parcel_id``,
    for the footer drawn when the page ends."""

    def __init__(self, current: list[str], parcel_id: str) -> None:
        super().__init__()
        self._current = current
        self._parcel_id = parcel_id

    def wrap(self, aW: float, aH: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        self._current[:] = [self._parcel_id]


def packing_slips_pdf(slips: Sequence[PackingSlip]) -> bytes:
    """The packing slips of ``slips`` as an A5 PDF, each starting on a new page, in the order given.
    Refused (InvalidArgument) when there are none, or when a parcel id is too long for its barcode."""
    if not slips:
        raise InvalidArgument.for_field("slips", "must hold at least one packing slip")
    register_font()
    buffer = io.BytesIO()
    doc = document_template(buffer, title=TITLE_TEXT, pagesize=A5, margin=SLIP_MARGIN)
    current: list[str] = []

    def footer(canvas: Canvas, _doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawString(SLIP_MARGIN, SLIP_MARGIN, f"{TITLE_TEXT} · 包裹 parcel {''.join(current)}")
        canvas.restoreState()

    doc.addPageTemplates(single_frame(doc, on_page_end=footer))
    story: list[Flowable] = []
    for i, slip in enumerate(slips):
        if i:
            story.append(PageBreak())
        story += [_ParcelMark(current, slip.parcel_id), *_slip(slip, f"slips[{i}]")]
    doc.build(story)
    return buffer.getvalue()


def _slip(slip: PackingSlip, path: str) -> list[Flowable]:
    barcode = code128(
        slip.parcel_id, max_width=WIDTH * 0.55, bar_height=12 * mm, font_size=9, field=f"{path}.parcel_id"
    )
    head = Table(
        [[[para(TITLE_TEXT, TITLE), para(f"店铺 Shop: {slip.shop_code}", BODY)], barcode]],
        colWidths=(WIDTH * 0.45, WIDTH * 0.55),
        hAlign="LEFT",
    )
    # The barcode's text hangs below its bars, outside its height: the bottom padding keeps it clear.
    head_style = unruled()
    head_style.add("VALIGN", (0, 0), (-1, -1), "TOP")
    head_style.add("ALIGN", (1, 0), (1, 0), "RIGHT")
    head_style.add("LEFTPADDING", (0, 0), (-1, -1), 0)
    head_style.add("RIGHTPADDING", (0, 0), (-1, -1), 0)
    head_style.add("BOTTOMPADDING", (1, 0), (1, 0), 5 * mm)
    head.setStyle(head_style)

    orders: list[list[object]] = [["订单号 Order", "平台订单号 Channel order"]]
    orders.extend([para(order_id), para(channel_id or "—")] for order_id, channel_id in slip.orders)
    orders_table = Table(orders, colWidths=(WIDTH / 2, WIDTH / 2), repeatRows=1, hAlign="LEFT")
    orders_table.setStyle(grid())

    lines: list[list[object]] = [["#", "SKU", "品名 Name", "数量 Qty"]]
    for n, line in enumerate(slip.lines, start=1):
        lines.append([str(n), para(line.sku_code), para(line.name or "—"), str(line.quantity)])
    lines.append(["", "合计 Total", "", str(slip.units)])
    lines_table = Table(
        lines, colWidths=(8 * mm, 38 * mm, WIDTH - 64 * mm, 18 * mm), repeatRows=1, hAlign="LEFT"
    )
    style = grid(total_row=True)
    style.add("ALIGN", (3, 0), (3, -1), "RIGHT")
    lines_table.setStyle(style)

    story: list[Flowable] = [
        head,
        para(f"包裹 Parcel: {slip.parcel_id}", BODY),
        Spacer(0, 3 * mm),
        orders_table,
        Spacer(0, 3 * mm),
        lines_table,
    ]
    if slip.notes.strip():
        story += [para("留言 / 备注 Notes", HEADING), para(slip.notes, BODY)]
    return story
