"""What the documents share: paragraph styles, table grids, local times, and A4 lists numbered
"page n of m" with the document's name on every page, so a page that falls out of the pile can be put
back."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Frame, PageTemplate, Paragraph, Table, TableStyle
from reportlab.platypus.doctemplate import BaseDocTemplate

from libs.business_time import BUSINESS_ZONE
from services.logistics.documents.fonts import FONT, register_font

MARGIN = 15 * mm

#: What a page template calls at a page's start or end.
PageCallback = Callable[[Canvas, BaseDocTemplate], None]
#: Who the PDF metadata names as its author.
AUTHOR = "shop back office: logistics"

# wordWrap="CJK" lets a line break between any two characters: Chinese has no spaces, and a long SKU
# code must wrap inside its cell instead of running into the next column.
BODY = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=13, wordWrap="CJK")
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8, leading=10)
CELL = ParagraphStyle("cell", parent=BODY, fontSize=9, leading=11)
TITLE = ParagraphStyle("title", parent=BODY, fontSize=16, leading=20, spaceAfter=3 * mm)
HEADING = ParagraphStyle("heading", parent=BODY, fontSize=11, leading=14, spaceBefore=3 * mm)


def local_time(moment: datetime) -> str:
    """A time as printed: minutes, in the business zone (Asia/Shanghai)."""
    return f"{moment.astimezone(BUSINESS_ZONE):%Y-%m-%d %H:%M}"


def para(text: str, style: ParagraphStyle = CELL) -> Paragraph:
    """A paragraph of literal text: paragraphs read markup, and a buyer's ``<`` or ``&`` is not markup."""
    return Paragraph(escape(text), style)


def grid(*, total_row: bool = False) -> TableStyle:
    """The ruled look of every table: a shaded header row (and total row), thin lines, every cell in the
    document font and top-aligned, so a number sits level with the first line of its wrapped text."""
    style = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), FONT),
            ("FONTSIZE", (0, 0), (-1, -1), 9),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e6e6")),
        ]
    )
    if total_row:
        style.add("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f2f2f2"))
    return style


def unruled() -> TableStyle:
    """A table style with no lines, setting only the font: a cell of plain text (even an empty one)
    would otherwise be set in reportlab's default Helvetica."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT)])


def key_values(pairs: Sequence[tuple[str, str]], width: float) -> Table:
    """A document's header facts as a two-row table: labels above, values below."""
    labels = [para(label, SMALL) for label, _ in pairs]
    values = [para(value, BODY) for _, value in pairs]
    table = Table([labels, values], colWidths=[width / len(pairs)] * len(pairs), hAlign="LEFT")
    table.setStyle(grid())
    return table


def document_template(
    buffer: io.BytesIO, *, title: str, pagesize: tuple[float, float], margin: float = MARGIN
) -> BaseDocTemplate:
    """A document with room for a page footer, its metadata and first font set, and bytes that do not
    depend on when or where it was built (``invariant``), so the same input always prints the same file.
    The caller adds its page template (``single_frame``)."""
    return BaseDocTemplate(
        buffer,
        pagesize=pagesize,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 5 * mm,  # room for the page footer
        title=title,
        author=AUTHOR,
        creator=AUTHOR,
        invariant=1,
        initialFontName=FONT,
    )


def single_frame(doc: BaseDocTemplate, *, on_page_end: PageCallback) -> PageTemplate:
    """The page template of a document: one frame filling the margins, ``on_page_end`` called after each
    page's content is drawn (so it knows what the page holds)."""
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")
    return PageTemplate(id="page", frames=[frame], onPageEnd=on_page_end, pagesize=doc.pagesize)


def numbered_pdf(story: Callable[[], list[Flowable]], *, title: str, running: str) -> bytes:
    """Builds an A4 document from ``story`` with a footer on every page: ``running`` (what the document
    is) on the left and "page n of m" on the right.

    The count of pages is only known once the story is laid out, so it is laid out twice: once to count,
    once to print. The footer sits in the bottom margin and takes nothing from the story's space, so both
    layouts break pages at the same places. ``story`` is called once per layout because laying out
    consumes the flowables.
    """
    register_font()
    pages = _layout(story(), title=title, running=running, total=None)[1]
    data, printed = _layout(story(), title=title, running=running, total=pages)
    if printed != pages:  # the footer moved a page break: numbering would be wrong
        raise RuntimeError(f"{title}: laid out {pages} pages, then {printed}")
    return data


def _layout(story: list[Flowable], *, title: str, running: str, total: int | None) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    doc = document_template(buffer, title=title, pagesize=A4)
    seen: list[int] = []

    def footer(canvas: Canvas, _doc: BaseDocTemplate) -> None:
        page = canvas.getPageNumber()
        seen.append(page)
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.drawString(MARGIN, MARGIN, running)
        canvas.drawRightString(A4[0] - MARGIN, MARGIN, f"page {page} of {total or '?'}")
        canvas.restoreState()

    doc.addPageTemplates(single_frame(doc, on_page_end=footer))
    doc.build(story)
    return buffer.getvalue(), max(seen, default=0)
