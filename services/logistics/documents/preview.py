"""Renders a PDF's first page to a PNG, to show a document in the README or a review without a PDF viewer.

    python -m services.logistics.documents.preview IN.pdf OUT.png [--dpi 150]

A development tool: it needs ``pypdfium2`` (the ``dev`` extra). The documents name their font without
embedding it (see ``fonts``), so Chinese text shows only where the machine has a Chinese font pdfium can
substitute.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pypdfium2  # type: ignore[import-untyped]

#: PDF user space has 72 points to the inch.
POINTS_PER_INCH = 72


def render_first_page(pdf: Path, png: Path, *, dpi: float = 150) -> tuple[int, int]:
    """Writes the first page of ``pdf`` to ``png`` at ``dpi`` and returns the image's (width, height)."""
    document = pypdfium2.PdfDocument(str(pdf))
    try:
        if len(document) == 0:
            raise ValueError(f"{pdf} has no pages")
        image = document[0].render(scale=dpi / POINTS_PER_INCH).to_pil()
        image.save(png, format="PNG")
        width, height = image.size
        return int(width), int(height)
    finally:
        document.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``IN.pdf OUT.png [--dpi N]``. Returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m services.logistics.documents.preview",
        description="Render the first page of a PDF to a PNG.",
    )
    parser.add_argument("pdf", type=Path, help="the PDF to read")
    parser.add_argument("png", type=Path, help="the PNG to write")
    parser.add_argument("--dpi", type=float, default=150, help="resolution (default 150)")
    args = parser.parse_args(argv)
    if args.dpi <= 0:
        parser.error("--dpi must be more than 0")
    try:
        width, height = render_first_page(args.pdf, args.png, dpi=args.dpi)
    except FileNotFoundError:
        print(f"preview: {args.pdf}: no such file", file=sys.stderr)
        return 1
    except (OSError, ValueError, pypdfium2.PdfiumError) as err:
        print(f"preview: {args.pdf}: {err}", file=sys.stderr)
        return 1
    print(f"{args.png}: {width} x {height} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
