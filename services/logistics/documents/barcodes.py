"""Code 128 barcodes sized to the space they are printed in.

Code 128 is what carriers and warehouse scanners read. A barcode is drawn as wide as its space allows, up
to a comfortable bar width, and never with bars thinner than a scanner resolves: a value too long for its
space is refused rather than printed unreadable.
"""

from __future__ import annotations

from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm

from libs.errors import InvalidArgument
from services.logistics.documents.fonts import register_font
from services.logistics.documents.model import is_barcode_text

#: The widest bar (X-dimension) used: wider bars scan from further away but need more room.
PREFERRED_BAR_WIDTH = 0.40 * mm
#: The narrowest bar a common warehouse scanner reads (7.5 mil, the Code 128 minimum).
MIN_BAR_WIDTH = 0.19 * mm
#: The quiet zone each side of the bars, in bar widths (the Code 128 minimum).
QUIET_BARS = 10


def _modules(value: str) -> float:
    """The symbol's width in bar widths: start, data, checksum and stop, without quiet zones."""
    probe = Code128(value, barWidth=1, quiet=0)
    return float(probe.width)


def code128(
    value: str, *, max_width: float, bar_height: float, font_size: float = 9, field: str = "barcode"
) -> Code128:
    """A Code 128 barcode of ``value`` no wider than ``max_width`` (points, quiet zones included), with
    the value printed under the bars in the document font.

    Refused (InvalidArgument naming ``field``) when ``value`` is not printable ASCII, since the writer
    would drop the other characters, or when it would need bars narrower than ``MIN_BAR_WIDTH`` to fit.
    The bars start ``QUIET_BARS`` bar widths in from the barcode's left edge; the text hangs below them.
    """
    if not is_barcode_text(value):
        raise InvalidArgument.for_field(field, f"{value!r} cannot be printed as a Code 128 barcode")
    modules = _modules(value)
    bar_width = min(PREFERRED_BAR_WIDTH, max_width / (modules + 2 * QUIET_BARS))
    if bar_width < MIN_BAR_WIDTH:
        raise InvalidArgument.for_field(
            field, f"{value!r} is too long to print readably in {max_width / mm:.0f} mm"
        )
    return Code128(
        value,
        barWidth=bar_width,
        barHeight=bar_height,
        quiet=1,
        lquiet=QUIET_BARS * bar_width,
        rquiet=QUIET_BARS * bar_width,
        humanReadable=1,
        fontName=register_font(),
        fontSize=font_size,
    )
