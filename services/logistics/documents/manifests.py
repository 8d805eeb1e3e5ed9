"""Hand-over manifests (交接单): what one carrier's courier takes from the warehouse in one wave, parcel by
parcel, signed by the courier and the clerk, as a PDF to sign and a CSV to reconcile with the carrier's
own records."""

from __future__ import annotations

import csv
import io

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer, Table

from services.logistics.documents.layout import (
    BODY,
    MARGIN,
    TITLE,
    grid,
    key_values,
    local_time,
    numbered_pdf,
    para,
    unruled,
)
from services.logistics.documents.model import Manifest

#: The printable width of an A4 page between the margins.
WIDTH = 210 * mm - 2 * MARGIN
#: Manifest columns: #, tracking number, parcel, province, city, weight.
COLUMNS = (10 * mm, 44 * mm, 44 * mm, 28 * mm, 30 * mm, WIDTH - 156 * mm)
TITLE_TEXT = "交接单 Hand-over manifest"

#: The CSV's header row: one parcel per row after it, the same columns in every file.
CSV_HEADER = (
    "wave_id",
    "carrier_code",
    "carrier_name",
    "tracking_number",
    "parcel_id",
    "province",
    "city",
    "weight_grams",
)
#: A cell starting with one of these is read by Excel as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def manifest_pdf(manifest: Manifest) -> bytes:
    """The carrier's hand-over manifest of a wave as an A4 PDF.

    A header with the carrier, the wave and the print time; a table of the parcels in the order given
    (tracking number, parcel id, recipient province and city, weight in grams) with the count and total
    weight; then lines for the courier's and the clerk's signatures and the time of hand-over. The
    table's header row repeats on every page; every page is numbered "page n of m".
    """
    return numbered_pdf(
        lambda: _story(manifest),
        title=f"{TITLE_TEXT} {manifest.carrier_code} {manifest.wave_id}",
        running=f"{TITLE_TEXT} · {manifest.carrier_name} · 波次 wave {manifest.wave_id}",
    )


def _story(manifest: Manifest) -> list[Flowable]:
    count = len(manifest.parcels)
    return [
        Paragraph(TITLE_TEXT, TITLE),
        key_values(
            [
                ("承运商 Carrier", f"{manifest.carrier_name} ({manifest.carrier_code})"),
                ("波次 Wave", manifest.wave_id),
                ("打印 Printed", local_time(manifest.printed_at)),
            ],
            WIDTH,
        ),
        Spacer(0, 2 * mm),
        key_values(
            [
                ("包裹数 Parcels", str(count)),
                ("总重量 Total weight", f"{manifest.total_weight_grams} g"),
            ],
            WIDTH,
        ),
        Spacer(0, 4 * mm),
        _parcels_table(manifest),
        Spacer(0, 8 * mm),
        # The signatures stay together: a signature alone on the last page signs nothing visible.
        KeepTogether(_signatures(count, manifest.total_weight_grams)),
    ]


def _parcels_table(manifest: Manifest) -> Table:
    rows: list[list[object]] = [
        ["#", "运单号 Tracking no.", "包裹 Parcel", "省 Province", "市 City", "重量 g"]
    ]
    for i, parcel in enumerate(manifest.parcels, start=1):
        rows.append(
            [
                str(i),
                para(parcel.tracking_number),
                para(parcel.parcel_id),
                para(parcel.province),
                para(parcel.city),
                str(parcel.weight_grams),
            ]
        )
    rows.append(
        ["", f"合计 Total: {len(manifest.parcels)} 件 parcels", "", "", "", str(manifest.total_weight_grams)]
    )
    table = Table(rows, colWidths=COLUMNS, repeatRows=1, hAlign="LEFT")
    style = grid(total_row=True)
    style.add("ALIGN", (5, 0), (5, -1), "RIGHT")
    style.add("SPAN", (1, -1), (4, -1))
    table.setStyle(style)
    return table


def _signatures(count: int, weight_grams: int) -> list[Flowable]:
    statement = [
        para(f"以上 {count} 件包裹，共 {weight_grams} g，已当面点清交接。", BODY),  # noqa: RUF001 Chinese commas
        para(f"The {count} parcels above, {weight_grams} g in all, were counted and handed over.", BODY),
    ]
    rows = [
        [
            _two_lines("承运人快递员签字", "Courier's signature"),
            "",
            _two_lines("日期时间", "Date and time"),
            "",
        ],
        [_two_lines("仓库交接员签字", "Clerk's signature"), "", _two_lines("日期时间", "Date and time"), ""],
    ]
    # Tall rows with a rule under each blank: room for a handwritten name and time.
    table = Table(rows, colWidths=(38 * mm, 62 * mm, 28 * mm, WIDTH - 128 * mm), rowHeights=14 * mm)
    style = unruled()
    style.add("VALIGN", (0, 0), (-1, -1), "BOTTOM")
    style.add("LINEBELOW", (1, 0), (1, -1), 0.6, colors.black)
    style.add("LINEBELOW", (3, 0), (3, -1), 0.6, colors.black)
    table.setStyle(style)
    return [*statement, table]


def _two_lines(chinese: str, english: str) -> list[Flowable]:
    # Each language on its own line: a Chinese line may break anywhere, an English word may not.
    return [para(chinese, BODY), para(english, BODY)]


def manifest_csv(manifest: Manifest) -> bytes:
    """The manifest as CSV: UTF-8 with a byte-order mark, so Excel reads the Chinese text as such; the
    ``CSV_HEADER`` row, then one row per parcel in the order given.

    There is no totals row, so every row after the header is a parcel and the file can be summed and
    imported as it is. A text cell that Excel would run as a formula is written with a leading ``'``.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # CRLF, as Excel writes CSV itself
    writer.writerow(CSV_HEADER)
    for parcel in manifest.parcels:
        writer.writerow(
            [
                _cell(manifest.wave_id),
                _cell(manifest.carrier_code),
                _cell(manifest.carrier_name),
                _cell(parcel.tracking_number),
                _cell(parcel.parcel_id),
                _cell(parcel.province),
                _cell(parcel.city),
                parcel.weight_grams,
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def _cell(text: str) -> str:
    # Province and city come from what a buyer typed: "=HYPERLINK(...)" must stay text in Excel.
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
