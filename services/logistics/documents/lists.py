"""The wave's lists for the pickers (LOG-2): one aggregated pick list (汇总单) to collect the whole wave in
one walk, then a sort list to split what was collected into parcels, order by order."""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table

from services.logistics.documents.layout import (
    BODY,
    MARGIN,
    TITLE,
    grid,
    key_values,
    local_time,
    numbered_pdf,
    para,
)
from services.logistics.documents.model import PickList, SortList, SortParcel

#: The printable width of an A4 page between the margins.
WIDTH = 210 * mm - 2 * MARGIN
#: Pick list columns: #, bin, SKU, lot, quantity, the SKU's wave total.
PICK_COLUMNS = (10 * mm, 32 * mm, 48 * mm, 48 * mm, 18 * mm, WIDTH - 156 * mm)


def pick_list_pdf(pick_list: PickList) -> bytes:
    """The wave's aggregated pick list (汇总单, LOG-2) as an A4 PDF.

    A header with the wave, warehouse, cut-off, print time and the wave's orders, parcels and units, then
    one table of the lines in the order given (the walking order): bin, SKU, lot, quantity, and the SKU's
    total over the whole wave, so a picker meeting a SKU in several bins knows how many to collect in all.
    The table's header row repeats on every page; every page is numbered "page n of m".
    """
    title = "拣货汇总单 Pick list"
    return numbered_pdf(
        lambda: _pick_story(pick_list, title),
        title=f"{title} {pick_list.wave_id}",
        running=f"{title} · 波次 wave {pick_list.wave_id} · {pick_list.warehouse_code}",
    )


def _pick_story(pick_list: PickList, title: str) -> list[Flowable]:
    totals = pick_list.sku_totals()
    return [
        Paragraph(title, TITLE),
        key_values(
            [
                ("波次 Wave", pick_list.wave_id),
                ("仓库 Warehouse", pick_list.warehouse_code),
                ("截单 Cut-off", local_time(pick_list.cutoff)),
                ("打印 Printed", local_time(pick_list.printed_at)),
            ],
            WIDTH,
        ),
        Spacer(0, 2 * mm),
        key_values(
            [
                ("订单 Orders", str(pick_list.orders)),
                ("包裹 Parcels", str(pick_list.parcels)),
                ("件数 Units", str(pick_list.units)),
                ("SKU 数 SKUs", str(len(totals))),
            ],
            WIDTH,
        ),
        Spacer(0, 4 * mm),
        _pick_table(pick_list),
    ]


def _pick_table(pick_list: PickList) -> Table:
    totals = pick_list.sku_totals()
    rows: list[list[object]] = [["#", "库位 Bin", "SKU", "批次 Lot", "数量 Qty", "SKU 合计 total"]]
    for i, line in enumerate(pick_list.lines, start=1):
        rows.append(
            [
                str(i),
                para(line.bin_code),
                para(line.sku_code),
                para(line.lot_label or "—"),
                str(line.quantity),
                str(totals[line.sku_code]),
            ]
        )
    rows.append(["", "合计 Total", f"{len(totals)} SKU", "", str(pick_list.units), ""])
    # repeatRows: every page starts with the column names, so a loose page can still be read.
    table = Table(rows, colWidths=PICK_COLUMNS, repeatRows=1, hAlign="LEFT")
    style = grid(total_row=True)
    style.add("ALIGN", (4, 0), (5, -1), "RIGHT")
    table.setStyle(style)
    return table


def sort_list_pdf(sort_list: SortList) -> bytes:
    """The wave's sort list as an A4 PDF: per parcel, in print order, its number in the wave, parcel id,
    carrier, orders and lines (SKU, quantity), so pickers split the collected wave into parcels (LOG-2).
    Every page is numbered "page n of m"."""
    title = "分拣单 Sort list"
    return numbered_pdf(
        lambda: _sort_story(sort_list, title),
        title=f"{title} {sort_list.wave_id}",
        running=f"{title} · 波次 wave {sort_list.wave_id}",
    )


def _sort_story(sort_list: SortList, title: str) -> list[Flowable]:
    units = sum(parcel.units for parcel in sort_list.parcels)
    story: list[Flowable] = [
        Paragraph(title, TITLE),
        key_values(
            [
                ("波次 Wave", sort_list.wave_id),
                ("打印 Printed", local_time(sort_list.printed_at)),
                ("包裹 Parcels", str(len(sort_list.parcels))),
                ("件数 Units", str(units)),
            ],
            WIDTH,
        ),
    ]
    for number, parcel in enumerate(sort_list.parcels, start=1):
        story += [Spacer(0, 3 * mm), _sort_parcel(number, parcel)]
    return story


def _sort_parcel(number: int, parcel: SortParcel) -> Table:
    """One parcel as a small table: a shaded row naming it, then its lines."""
    heading = (
        f"#{number}  包裹 Parcel {parcel.parcel_id}  ·  承运商 Carrier {parcel.carrier_code}  ·  "
        f"{parcel.units} 件 units  ·  订单 Orders {', '.join(parcel.order_ids)}"
    )
    rows: list[list[object]] = [[para(heading, BODY), ""]]
    rows.extend([para(sku_code), str(quantity)] for sku_code, quantity in parcel.lines)
    # A parcel whose lines run over a page break names itself again at the top of the next page.
    table = Table(rows, colWidths=(WIDTH - 30 * mm, 30 * mm), repeatRows=1, hAlign="LEFT")
    style = grid()
    style.add("SPAN", (0, 0), (1, 0))
    style.add("ALIGN", (1, 1), (1, -1), "RIGHT")
    table.setStyle(style)
    return table
