"""Items (INV-1): a sellable SKU is a style number + colour + size; packing materials are items too."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from libs.errors import Violations


class SkuKind(enum.Enum):
    SELLABLE = "sellable"
    PACKING_MATERIAL = "packing_material"


#: An item registered without a kind is one the shop sells; packing materials are registered as such.
DEFAULT_KIND = SkuKind.SELLABLE


# Codes travel in URLs, on labels and through channel APIs: keep them to a safe alphabet.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_BARCODE = re.compile(r"^[0-9A-Za-z-]{4,48}$")
MAX_TEXT = 200


@dataclass(frozen=True)
class Sku:
    """A registered item."""

    sku_code: str
    style_number: str
    colour: str
    size: str
    name: str
    category: str
    barcode: str
    kind: SkuKind


def new_sku(
    *,
    sku_code: str,
    style_number: str,
    colour: str,
    size: str,
    name: str,
    category: str,
    barcode: str,
    kind: SkuKind | None,
) -> Sku:
    """Validates and normalises a SKU to register; InvalidArgument lists every offending field."""
    v = Violations()
    sku_code, style_number, colour, size = (
        sku_code.strip(),
        style_number.strip(),
        colour.strip(),
        size.strip(),
    )
    name, category, barcode = name.strip(), category.strip(), barcode.strip()
    v.require(bool(_CODE.match(sku_code)), "sku_code", "must be 1-64 letters, digits, '.', '_' or '-'")
    v.require(bool(style_number), "style_number", "is required")
    v.require(bool(name), "name", "is required")
    v.require(bool(category), "category", "is required")
    v.require(bool(_BARCODE.match(barcode)), "barcode", "must be 4-48 letters, digits or '-'")
    if kind is None:
        v.add("kind", "must be 'sellable' or 'packing_material'")
    elif kind is SkuKind.SELLABLE:
        # A sellable item is identified by style + colour + size (INV-1).
        v.require(bool(colour), "colour", "is required for a sellable item")
        v.require(bool(size), "size", "is required for a sellable item")
    for field_name, value in (
        ("style_number", style_number),
        ("colour", colour),
        ("size", size),
        ("name", name),
        ("category", category),
    ):
        v.require(len(value) <= MAX_TEXT, field_name, f"must be at most {MAX_TEXT} characters")
    v.raise_if_any()
    assert kind is not None
    return Sku(sku_code, style_number, colour, size, name, category, barcode, kind)
