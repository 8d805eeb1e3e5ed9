"""The printed warehouse documents (LOG-2 pick and sort lists, labels and packing slips; LOG-3 the label
and the slip name the same parcel; LOG-5 the hand-over manifest), read back from the PDF bytes.

Every PDF is parsed with pypdf: its text, its page sizes and its fonts. Barcodes are decoded from the bars
drawn on the page with the Code 128 table of the standard (ISO/IEC 15417), so a test passes only if a
scanner would read the value it expects.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from pypdf import PageObject, PdfReader
from pypdf.generic import ContentStream, DictionaryObject

from libs.business_time import BUSINESS_ZONE
from libs.errors import InvalidArgument
from services.logistics.documents import (
    FONT,
    Address,
    Label,
    Manifest,
    ManifestParcel,
    PackingSlip,
    PickList,
    PickListLine,
    SlipLine,
    SortList,
    SortParcel,
    labels_pdf,
    manifest_csv,
    manifest_pdf,
    mask_phone,
    packing_slips_pdf,
    pick_list_pdf,
    sort_list_pdf,
)
from services.logistics.documents.preview import main as preview_main

CUTOFF = datetime(2026, 12, 1, 10, 30, tzinfo=BUSINESS_ZONE)
# Stored in UTC, printed in Asia/Shanghai: 02:41 UTC is 10:41 local.
PRINTED = datetime(2026, 12, 1, 2, 41, tzinfo=UTC)
MM = 72 / 25.4
A4 = (210 * MM, 297 * MM)
A5 = (148 * MM, 210 * MM)
LABEL = (100 * MM, 150 * MM)


# --- reading PDFs back --------------------------------------------------------------------------------


def read(data: bytes) -> PdfReader:
    assert data.startswith(b"%PDF-")
    return PdfReader(io.BytesIO(data))


def page_texts(reader: PdfReader) -> list[str]:
    return [page.extract_text() for page in reader.pages]


def squash(text: str) -> str:
    """Text without any whitespace: wrapped lines and table cells come back split at arbitrary places."""
    return re.sub(r"\s+", "", text)


def size_of(page: PageObject) -> tuple[float, float]:
    return float(page.mediabox.width), float(page.mediabox.height)


def assert_size(page: PageObject, expected: tuple[float, float]) -> None:
    width, height = size_of(page)
    assert width == pytest.approx(expected[0], abs=0.5)
    assert height == pytest.approx(expected[1], abs=0.5)


def fonts_of(reader: PdfReader) -> set[str]:
    names: set[str] = set()
    for page in reader.pages:
        resources = cast(DictionaryObject, page["/Resources"].get_object())
        for font in cast(DictionaryObject, resources["/Font"].get_object()).values():
            names.add(str(cast(DictionaryObject, font.get_object())["/BaseFont"]))
    return names


# --- a Code 128 reader --------------------------------------------------------------------------------

#: Bar and space widths, in modules, of the Code 128 symbols 0-106 (ISO/IEC 15417 table 1).
CODE128_WIDTHS = re.findall(
    r"\d+",
    """
    212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 112232 122132
    122231 113222 123122 123221 223211 221132 221231 213212 223112 312131 311222 321122 321221 312212
    322112 322211 212123 212321 232121 111323 131123 131321 112313 132113 132311 211313 231113 231311
    112133 112331 132131 113123 113321 133121 313121 211331 231131 213113 213311 213131 311123 311321
    331121 312113 312311 332111 314111 221411 431111 111224 111422 121124 121421 141122 141221 112214
    112412 122114 122411 142112 142211 241211 221114 413111 241112 134111 111242 121142 121241 114212
    124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 114311 411113
    411311 113141 114131 311141 411131 211412 211214 211232 2331112
    """,
)
assert len(CODE128_WIDTHS) == 107
SYMBOLS = {pattern: value for value, pattern in enumerate(CODE128_WIDTHS)}
START_A, START_B, START_C, STOP = 103, 104, 105, 106


class NotCode128(ValueError):
    pass


def decode_code128(bars: Sequence[tuple[float, float]]) -> str:
    """The value of a Code 128 symbol from its bars as ``(x, width)``, left to right.

    Widths of bars and of the spaces between them are turned into modules (the narrowest element is one
    module, and every element must be a whole number of modules); the symbols are looked up, the check
    symbol verified, and the values read in code sets A, B and C with their switches.
    """
    if len(bars) < 10:
        raise NotCode128("too few bars")
    elements: list[float] = []
    for i, (x, width) in enumerate(bars):
        if i:
            previous_x, previous_width = bars[i - 1]
            elements.append(x - (previous_x + previous_width))
        elements.append(width)
    module = min(elements)
    if module <= 0:
        raise NotCode128("overlapping bars")
    modules = [element / module for element in elements]
    if any(abs(m - round(m)) > 0.05 for m in modules):
        raise NotCode128("widths are not whole modules")
    digits = "".join(str(round(m)) for m in modules)
    if len(digits) < 19 or (len(digits) - 7) % 6:
        raise NotCode128("not a whole number of symbols")
    patterns = [digits[i : i + 6] for i in range(0, len(digits) - 7, 6)] + [digits[-7:]]
    try:
        values = [SYMBOLS[pattern] for pattern in patterns]
    except KeyError as err:
        raise NotCode128(f"no symbol {err}") from None
    if values[-1] != STOP or values[0] not in (START_A, START_B, START_C):
        raise NotCode128("no start or stop")
    *data, check = values[1:-1]
    if (values[0] + sum(i * v for i, v in enumerate(data, start=1))) % 103 != check:
        raise NotCode128("check symbol does not match")
    return _read_code_sets(values[0], data)


def _read_code_sets(start: int, data: list[int]) -> str:
    code = {START_A: "A", START_B: "B", START_C: "C"}[start]
    text = []
    for value in data:
        if code == "C" and value < 100:
            text.append(f"{value:02d}")
        elif value == 99:
            code = "C"
        elif value == 100 and code != "B":
            code = "B"
        elif value == 101 and code != "A":
            code = "A"
        elif value < 64 or (code == "B" and value < 96):
            text.append(chr(value + 32))
        elif code == "A" and value < 96:
            text.append(chr(value - 64))
        else:
            raise NotCode128(f"symbol {value} in code set {code} is not handled here")
    return "".join(text)


def barcodes_on(page: PageObject, reader: PdfReader) -> list[str]:
    """Every Code 128 value drawn on ``page``: runs of filled rectangles of one height on one line."""
    runs: list[list[tuple[float, float, float, float]]] = [[]]
    for operands, operator in ContentStream(page.get_contents(), reader).operations:
        if operator == b"re":
            x, y, width, height = (float(v) for v in operands)
            run = runs[-1]
            if run and (run[-1][1], run[-1][3]) != (y, height):
                runs.append(run := [])
            run.append((x, y, width, height))
        elif operator not in (b"n", b"f", b"f*"):
            runs.append([])
    found = []
    for run in runs:
        try:
            found.append(decode_code128(sorted((x, width) for x, _, width, _ in run)))
        except NotCode128:
            continue
    return found


# --- the decoder itself: it must be able to say no -----------------------------------------------------


def test_the_code128_reader_rejects_a_tampered_symbol() -> None:
    label = make_label(tracking="SF1234567890123")
    reader = read(labels_pdf([label]))
    page = reader.pages[0]
    assert "SF1234567890123" in barcodes_on(page, reader)

    ops = ContentStream(page.get_contents(), reader)
    bars = [(float(o[0]), float(o[2])) for o, op in ops.operations if op == b"re" and float(o[3]) > 50]
    assert decode_code128(bars) == "SF1234567890123"
    x, width = bars[5]
    widened = [*bars[:5], (x, width * 2), *bars[6:]]
    with pytest.raises(NotCode128):
        decode_code128(widened)


# --- pick list (汇总单, LOG-2) -------------------------------------------------------------------------


def make_pick_list(lines: Sequence[PickListLine], **overrides: object) -> PickList:
    fields: dict[str, object] = {
        "wave_id": "2026-12-01T10:30",
        "warehouse_code": "MAIN",
        "cutoff": CUTOFF,
        "printed_at": PRINTED,
        "orders": 41,
        "parcels": 43,
        "lines": tuple(lines),
    }
    fields.update(overrides)
    return PickList(**fields)  # type: ignore[arg-type]


SMALL_PICK = (
    PickListLine("A-01-03", "LJ-250-GRN", "LJ-250-GRN-00000000A1", 4),
    PickListLine("A-02-01", "BOX-S", "", 2),
    PickListLine("B-07-02", "LJ-250-GRN", "LJ-250-GRN-00000000B7", 3),
    PickListLine("C-01-01", "龙井-礼盒", "龙井-礼盒-0000000001", 1),
)

ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+)\s+(\d+)\s*$")


def pick_rows(reader: PdfReader) -> list[tuple[str, ...]]:
    """The table rows as (#, bin, SKU, lot, quantity, SKU total), read with the page's layout kept."""
    rows = []
    for page in reader.pages:
        for line in page.extract_text(extraction_mode="layout").splitlines():
            if match := ROW.match(line):
                rows.append(match.groups())
    return rows


def test_log2_pick_list_header_names_the_wave_and_its_totals() -> None:
    reader = read(pick_list_pdf(make_pick_list(SMALL_PICK)))
    assert len(reader.pages) == 1
    assert_size(reader.pages[0], A4)
    text = reader.pages[0].extract_text()
    assert "拣货汇总单" in text
    layout = reader.pages[0].extract_text(extraction_mode="layout")
    assert re.search(r"2026-12-01T10:30\s+MAIN\s+2026-12-01 10:30\s+2026-12-01 10:41", layout)
    # orders, parcels, units (4 + 2 + 3 + 1), SKUs
    assert re.search(
        r"订单 Orders\s+包裹 Parcels\s+件数 Units\s+SKU 数 SKUs\s*\n\s*41\s+43\s+10\s+3\b", layout
    )
    assert "page 1 of 1" in text


def test_log2_pick_list_rows_keep_the_walking_order_with_each_skus_wave_total() -> None:
    reader = read(pick_list_pdf(make_pick_list(SMALL_PICK)))
    assert pick_rows(reader) == [
        ("1", "A-01-03", "LJ-250-GRN", "LJ-250-GRN-00000000A1", "4", "7"),
        ("2", "A-02-01", "BOX-S", "—", "2", "2"),
        ("3", "B-07-02", "LJ-250-GRN", "LJ-250-GRN-00000000B7", "3", "7"),
        ("4", "C-01-01", "龙井-礼盒", "龙井-礼盒-0000000001", "1", "1"),
    ]
    layout = reader.pages[0].extract_text(extraction_mode="layout")
    assert re.search(r"合计 Total\s+3 SKU\s+10\b", layout)


def big_pick_list() -> PickList:
    """A wave of 300 bin stops over 37 SKUs, each SKU in several bins."""
    lines = [
        PickListLine(f"A-{i // 10:02d}-{i % 10:02d}", f"SKU-{i % 37:03d}", f"LOT-{i:05d}", 1 + i % 5)
        for i in range(300)
    ]
    return make_pick_list(lines)


def test_log2_a_long_pick_list_runs_over_numbered_pages_with_the_header_on_each() -> None:
    pick_list = big_pick_list()
    reader = read(pick_list_pdf(pick_list))
    pages = len(reader.pages)
    assert pages >= 4
    for n, (page, text) in enumerate(zip(reader.pages, page_texts(reader), strict=True), start=1):
        assert_size(page, A4)
        assert f"page {n} of {pages}" in text
        assert "库位 Bin" in text and "批次 Lot" in text  # the repeated header row
        assert "2026-12-01T10:30" in text  # the running footer names the wave
    rows = pick_rows(reader)
    assert [row[3] for row in rows] == [line.lot_label for line in pick_list.lines]
    totals = pick_list.sku_totals()
    assert all(int(row[5]) == totals[row[2]] for row in rows)
    assert totals["SKU-000"] == sum(1 + i % 5 for i in range(0, 300, 37))
    assert f"合计 Total 37 SKU {pick_list.units}" in re.sub(r"\s+", " ", page_texts(reader)[-1])


def test_log2_every_document_is_set_in_the_chinese_cid_font_only() -> None:
    documents = [
        pick_list_pdf(make_pick_list(SMALL_PICK)),
        sort_list_pdf(make_sort_list()),
        labels_pdf([make_label()]),
        packing_slips_pdf([make_slip()]),
        manifest_pdf(make_manifest()),
    ]
    for data in documents:
        assert fonts_of(read(data)) == {f"/{FONT}"}
    assert FONT == "STSong-Light"


def test_the_same_values_print_the_same_bytes() -> None:
    assert pick_list_pdf(make_pick_list(SMALL_PICK)) == pick_list_pdf(make_pick_list(SMALL_PICK))
    assert labels_pdf([make_label()]) == labels_pdf([make_label()])


# --- sort list ------------------------------------------------------------------------------------------


def make_sort_list() -> SortList:
    return SortList(
        "2026-12-01T17:30",
        PRINTED,
        (
            SortParcel("P-0002", ("O-1002",), "sf", (("LJ-250-GRN", 2),)),
            SortParcel("P-0001", ("O-1001", "O-1005"), "yto", (("BOX-S", 1), ("龙井-礼盒", 3))),
        ),
    )


def test_log2_sort_list_shows_each_parcel_in_print_order_with_its_orders_and_lines() -> None:
    reader = read(sort_list_pdf(make_sort_list()))
    assert_size(reader.pages[0], A4)
    text = re.sub(r"\s+", " ", reader.pages[0].extract_text())
    assert "分拣单 Sort list" in text and "2026-12-01T17:30" in text and "2026-12-01 10:41" in text
    first = text.index("#1 包裹 Parcel P-0002")
    second = text.index("#2 包裹 Parcel P-0001")
    assert first < second  # print order as given, not sorted by id
    assert "承运商 Carrier sf" in text[first:second] and "O-1002" in text[first:second]
    assert "LJ-250-GRN 2" in text[first:second]
    rest = text[second:]
    assert "承运商 Carrier yto" in rest and "订单 Orders O-1001, O-1005" in rest
    assert "BOX-S 1" in rest and "龙井-礼盒 3" in rest and "4 件 units" in rest
    assert "page 1 of 1" in text


def test_log2_sort_list_refuses_a_parcel_listed_twice() -> None:
    parcel = SortParcel("P-1", ("O-1",), "sf", (("A", 1),))
    with pytest.raises(InvalidArgument) as err:
        SortList("W", PRINTED, (parcel, parcel))
    assert err.value.violations[0].field == "parcels[1].parcel_id"


# --- labels ---------------------------------------------------------------------------------------------

ADDRESS = Address(
    "张三丰", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 90 号 东部软件园 3 号楼 501 室"
)


def make_label(tracking: str = "SF1234567890123", weight: int | None = 1234) -> Label:
    return Label(
        parcel_id="P-20261201-0001",
        carrier_code="sf",
        carrier_name="顺丰速运",
        tracking_number=tracking,
        shop_code="tmall-flagship",
        address=ADDRESS,
        weight_grams=weight,
    )


@pytest.mark.parametrize(
    ("phone", "shown"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("+86 138-1234-5678", "+86*******5678"),
        ("0571-88886666", "057*****6666"),
        ("88886666", "****6666"),
        ("123456", "****56"),
        ("1234", "****"),
    ],
)
def test_log5_phone_numbers_on_labels_hide_their_middle_digits(phone: str, shown: str) -> None:
    assert mask_phone(phone) == shown


def test_log5_a_label_is_100_by_150_mm_and_shows_the_recipient_with_a_masked_phone() -> None:
    reader = read(labels_pdf([make_label()]))
    assert len(reader.pages) == 1
    assert_size(reader.pages[0], LABEL)
    text = reader.pages[0].extract_text()
    for shown in ("顺丰速运", "张三丰", "138****5678", "tmall-flagship", "P-20261201-0001", "1234 g"):
        assert shown in text
    assert "13812345678" not in squash(text)
    assert "浙江省杭州市西湖区文三路90号东部软件园3号楼501室" in squash(text)
    assert "SF1234567890123" in text  # the barcode's human-readable line


def test_log5_the_label_barcode_encodes_the_tracking_number_and_a_second_the_parcel() -> None:
    reader = read(labels_pdf([make_label()]))
    assert barcodes_on(reader.pages[0], reader) == ["SF1234567890123", "P-20261201-0001"]


def test_log5_without_a_tracking_number_the_label_barcode_is_the_parcel_id() -> None:
    reader = read(labels_pdf([make_label(tracking="", weight=None)]))
    assert barcodes_on(reader.pages[0], reader) == ["P-20261201-0001"]
    text = reader.pages[0].extract_text()
    assert "包裹号 Parcel no." in text and "重量 Weight: —" in text


def test_log5_labels_print_one_page_each_in_the_order_given() -> None:
    other = Label("P-2", "yto", "圆通速递", "YT9876543210", "jd-store", ADDRESS, 500)
    reader = read(labels_pdf([make_label(), other]))
    assert len(reader.pages) == 2
    for page in reader.pages:
        assert_size(page, LABEL)
    assert barcodes_on(reader.pages[1], reader) == ["YT9876543210", "P-2"]
    assert "圆通速递" in reader.pages[1].extract_text()


def test_log5_a_very_long_address_still_fits_its_label() -> None:
    long_street = "解放南路很长的地址" * 25
    address = Address("欧阳娜娜", "13812345678", "新疆维吾尔自治区", "乌鲁木齐市", "", long_street)
    label = Label("P-3", "sf", "顺丰速运", "SF1", "shop", address, 100)
    reader = read(labels_pdf([label]))
    assert len(reader.pages) == 1
    assert long_street in squash(reader.pages[0].extract_text())


def test_log5_a_label_refuses_a_barcode_a_scanner_would_read_differently() -> None:
    with pytest.raises(InvalidArgument) as err:
        make_label(tracking="SF顺丰123")
    assert err.value.violations[0].field == "tracking_number"
    with pytest.raises(InvalidArgument) as err:
        labels_pdf([make_label(tracking="X" * 60)])
    assert err.value.violations[0].field == "labels[0].tracking_number"
    with pytest.raises(InvalidArgument):
        labels_pdf([])


# --- packing slips --------------------------------------------------------------------------------------


def make_slip(parcel_id: str = "P-20261201-0001", lines: int = 2) -> PackingSlip:
    items = (SlipLine("LJ-250-GRN", "西湖龙井 250 g", 2), SlipLine("BOX-S", "", 1))
    return PackingSlip(
        parcel_id=parcel_id,
        shop_code="tmall-flagship",
        orders=(("O-1001", "TM-3344556677"), ("O-1002", "TM-3344556688")),
        lines=items if lines == 2 else tuple(SlipLine(f"SKU-{i:03d}", f"商品 {i}", 1) for i in range(lines)),
        notes="买家留言：请尽快发货 <急> & 谢谢",  # noqa: RUF001 a buyer writes Chinese punctuation
    )


def test_log5_a_packing_slip_lists_the_orders_lines_and_notes_on_an_a5_page() -> None:
    reader = read(packing_slips_pdf([make_slip()]))
    assert len(reader.pages) == 1
    assert_size(reader.pages[0], A5)
    text = reader.pages[0].extract_text()
    for shown in ("tmall-flagship", "O-1001", "TM-3344556677", "O-1002", "TM-3344556688", "LJ-250-GRN"):
        assert shown in text
    assert "西湖龙井 250 g" in text and "BOX-S" in text
    assert re.search(r"合计 Total\s+3", text)
    # The buyer's text is printed as typed: its "<" and "&" are not markup.
    assert "买家留言：请尽快发货 <急> & 谢谢" in text  # noqa: RUF001


def test_log3_label_and_packing_slip_barcodes_name_the_same_parcel() -> None:
    label = read(labels_pdf([make_label()]))
    slip = read(packing_slips_pdf([make_slip()]))
    assert barcodes_on(slip.pages[0], slip) == ["P-20261201-0001"]
    assert "P-20261201-0001" in barcodes_on(label.pages[0], label)


def test_log5_each_slip_starts_a_page_and_a_long_one_names_its_parcel_on_every_page() -> None:
    reader = read(packing_slips_pdf([make_slip("P-1"), make_slip("P-2", lines=80)]))
    assert len(reader.pages) >= 3
    texts = page_texts(reader)
    assert barcodes_on(reader.pages[0], reader) == ["P-1"]
    assert barcodes_on(reader.pages[1], reader) == ["P-2"]
    assert "P-2" not in texts[0]
    for text in texts[1:]:
        assert "包裹 parcel P-2" in text
        assert "P-1" not in text
    assert "SKU-079" in texts[-1] and re.search(r"合计 Total\s+80", texts[-1])


# --- hand-over manifest (交接单) -----------------------------------------------------------------------


def make_manifest(count: int = 3) -> Manifest:
    parcels = tuple(
        ManifestParcel(f"P-{i:04d}", f"SF{9000000000 + i}", "浙江省", "杭州市", 500 + i) for i in range(count)
    )
    return Manifest("2026-12-01T17:30", "sf", "顺丰速运", PRINTED, parcels)


def test_log5_the_manifest_lists_every_parcel_with_totals_and_signature_lines() -> None:
    manifest = make_manifest()
    reader = read(manifest_pdf(manifest))
    assert len(reader.pages) == 1
    assert_size(reader.pages[0], A4)
    text = reader.pages[0].extract_text()
    layout = reader.pages[0].extract_text(extraction_mode="layout")
    assert "交接单" in text and "顺丰速运 (sf)" in text and "2026-12-01T17:30" in text
    for i in range(3):
        assert re.search(
            rf"\b{i + 1}\s+SF{9000000000 + i}\s+P-{i:04d}\s+浙江省\s+杭州市\s+{500 + i}\b", layout
        )
    assert re.search(r"合计 Total: 3 件 parcels\s+1503\b", layout)
    assert "承运人快递员签字" in text and "Courier's signature" in text
    assert "仓库交接员签字" in text and "Clerk's signature" in text
    assert "page 1 of 1" in text


def test_log5_a_long_manifest_numbers_its_pages_and_signs_once_at_the_end() -> None:
    reader = read(manifest_pdf(make_manifest(120)))
    texts = page_texts(reader)
    assert len(texts) >= 3
    for n, text in enumerate(texts, start=1):
        assert f"page {n} of {len(texts)}" in text and "运单号 Tracking no." in text
    assert all("Courier's signature" not in text for text in texts[:-1])
    assert "Courier's signature" in texts[-1] and "SF9000000119" in texts[-1]


def test_log5_the_manifest_csv_opens_in_excel_with_one_row_per_parcel() -> None:
    data = manifest_csv(make_manifest())
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [
        "wave_id",
        "carrier_code",
        "carrier_name",
        "tracking_number",
        "parcel_id",
        "province",
        "city",
        "weight_grams",
    ]
    assert rows[1:] == [
        [
            "2026-12-01T17:30",
            "sf",
            "顺丰速运",
            f"SF{9000000000 + i}",
            f"P-{i:04d}",
            "浙江省",
            "杭州市",
            str(500 + i),
        ]
        for i in range(3)
    ]
    assert b"\r\n" in data


def test_log5_manifest_csv_keeps_a_typed_formula_as_text() -> None:
    parcel = ManifestParcel("P-1", "SF1", '=HYPERLINK("x")', "-1+1", 10)
    manifest = Manifest("W", "sf", "顺丰速运", PRINTED, (parcel,))
    rows = list(csv.reader(io.StringIO(manifest_csv(manifest).decode("utf-8-sig"))))
    assert rows[1][5:7] == ['\'=HYPERLINK("x")', "'-1+1"]


def test_log5_a_manifest_refuses_a_parcel_or_tracking_number_twice() -> None:
    a = ManifestParcel("P-1", "SF1", "浙江省", "杭州市", 10)
    b = ManifestParcel("P-2", "SF1", "浙江省", "杭州市", 10)
    with pytest.raises(InvalidArgument) as err:
        Manifest("W", "sf", "顺丰速运", PRINTED, (a, b))
    assert [v.field for v in err.value.violations] == ["parcels[1].tracking_number"]


# --- the values check themselves ------------------------------------------------------------------------


def test_document_values_refuse_what_cannot_be_printed_right() -> None:
    with pytest.raises(InvalidArgument) as err:
        PickListLine("A-01", "SKU", "", 0)
    assert err.value.violations[0].field == "quantity"
    with pytest.raises(InvalidArgument) as err:
        make_pick_list(SMALL_PICK, cutoff=datetime(2026, 12, 1, 10, 30))
    assert err.value.violations[0].field == "cutoff"
    with pytest.raises(InvalidArgument) as err:
        SortParcel("P-1", ("O-1",), "sf", (("SKU", -1),))
    assert err.value.violations[0].field == "lines[0].quantity"
    with pytest.raises(InvalidArgument) as err:
        PackingSlip("包裹-1", "shop", (("O-1", ""),), (SlipLine("SKU", "", 1),))
    assert err.value.violations[0].field == "parcel_id"


# --- preview tool ---------------------------------------------------------------------------------------


def test_preview_renders_the_first_page_to_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pdf = tmp_path / "label.pdf"
    pdf.write_bytes(labels_pdf([make_label()]))
    png = tmp_path / "label.png"
    assert preview_main([str(pdf), str(png), "--dpi", "144"]) == 0
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    # 144 dpi is two pixels a point; pdfium rounds the page's size up to whole pixels.
    assert width == pytest.approx(2 * LABEL[0], abs=1) and height == pytest.approx(2 * LABEL[1], abs=1)
    assert "label.png" in capsys.readouterr().out


def test_preview_reports_a_file_it_cannot_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf")
    assert preview_main([str(bad), str(tmp_path / "out.png")]) == 1
    assert "bad.pdf" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
