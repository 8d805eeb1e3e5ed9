"""The one font every warehouse document is set in: reportlab's built-in Chinese CID font STSong-Light.

STSong-Light (宋体) is one of the Adobe Asian fonts reportlab knows without a font file: the PDF names the
font and the PDF reader supplies the glyphs, so the server needs no font installed and the files stay
small. It holds Chinese and Latin glyphs, so names, addresses, codes and numbers share one font.
"""

from __future__ import annotations

from functools import cache

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

#: The font of all text on every document.
FONT = "STSong-Light"


@cache
def register_font() -> str:
    """Registers the document font with reportlab (once per process) and returns its name."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT
