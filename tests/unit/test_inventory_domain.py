"""Warehouse rules without I/O: registering items (INV-1) and stock levels and receipts (INV-2, INV-10)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from libs.errors import InvalidArgument
from services.inventory.domain.skus import MAX_TEXT, Sku, SkuKind, new_sku
from services.inventory.domain.stock import MAX_MOVEMENT_QUANTITY, MAX_NOTE, StockIn, StockLevel, stock_in


def _sku_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "sku_code": "TEE-001-RED-M",
        "style_number": "TEE-001",
        "colour": "red",
        "size": "M",
        "name": "Organic cotton tee",
        "category": "tops",
        "barcode": "4006381333931",
        "kind": SkuKind.SELLABLE,
    }
    fields.update(overrides)
    return fields


def _fields_of(err: InvalidArgument) -> list[str]:
    return [v.field for v in err.violations]


# --- INV-1: items -------------------------------------------------------------------------------------


def test_inv1_valid_sellable_sku_is_normalised() -> None:
    sku = new_sku(**_sku_fields(sku_code="  TEE-001-RED-M ", colour=" red ", size="M\n", name=" Tee "))
    assert sku == Sku(
        sku_code="TEE-001-RED-M",
        style_number="TEE-001",
        colour="red",
        size="M",
        name="Tee",
        category="tops",
        barcode="4006381333931",
        kind=SkuKind.SELLABLE,
    )


def test_inv1_every_missing_required_field_is_named() -> None:
    with pytest.raises(InvalidArgument) as info:
        new_sku(
            sku_code="",
            style_number=" ",
            colour="",
            size="",
            name="",
            category="",
            barcode="",
            kind=SkuKind.SELLABLE,
        )
    assert _fields_of(info.value) == [
        "sku_code",
        "style_number",
        "name",
        "category",
        "barcode",
        "colour",
        "size",
    ]
    assert info.value.message.startswith("sku_code: ")
    assert "(and 6 more)" in info.value.message


def test_inv1_missing_kind_is_named() -> None:
    with pytest.raises(InvalidArgument) as info:
        new_sku(**_sku_fields(kind=None))
    assert _fields_of(info.value) == ["kind"]


def test_inv1_sellable_item_needs_colour_and_size() -> None:
    """INV-1: a sellable SKU is style number + colour + size."""
    with pytest.raises(InvalidArgument) as info:
        new_sku(**_sku_fields(colour="  ", size=""))
    assert _fields_of(info.value) == ["colour", "size"]
    assert all("sellable" in v.description for v in info.value.violations)


@pytest.mark.parametrize(("colour", "size", "missing"), [("", "M", ["colour"]), ("red", "", ["size"])])
def test_inv1_sellable_item_names_the_missing_one(colour: str, size: str, missing: list[str]) -> None:
    with pytest.raises(InvalidArgument) as info:
        new_sku(**_sku_fields(colour=colour, size=size))
    assert _fields_of(info.value) == missing


def test_inv1_packing_material_needs_no_colour_or_size() -> None:
    """INV-1: packing materials are items too, without colour and size."""
    sku = new_sku(
        **_sku_fields(sku_code="BOX-S", style_number="BOX", colour="", size="", kind=SkuKind.PACKING_MATERIAL)
    )
    assert sku.kind is SkuKind.PACKING_MATERIAL
    assert (sku.colour, sku.size) == ("", "")


@pytest.mark.parametrize("code", ["has space", "-leading-dash", ".dot", "a/b", "é", "A" * 65])
def test_inv1_bad_sku_codes_are_refused(code: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        new_sku(**_sku_fields(sku_code=code))
    assert _fields_of(info.value) == ["sku_code"]


@pytest.mark.parametrize("code", ["A", "a.b_c-D9", "9" + "x" * 63])
def test_inv1_good_sku_codes_are_accepted(code: str) -> None:
    assert new_sku(**_sku_fields(sku_code=code)).sku_code == code


@pytest.mark.parametrize("barcode", ["123", "12 34 56", "x" * 49, "12345_"])
def test_inv1_bad_barcodes_are_refused(barcode: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        new_sku(**_sku_fields(barcode=barcode))
    assert _fields_of(info.value) == ["barcode"]


@pytest.mark.parametrize("field", ["style_number", "colour", "size", "name", "category"])
def test_inv1_text_fields_are_bounded(field: str) -> None:
    assert new_sku(**_sku_fields(**{field: "x" * MAX_TEXT}))
    with pytest.raises(InvalidArgument) as info:
        new_sku(**_sku_fields(**{field: "x" * (MAX_TEXT + 1)}))
    assert _fields_of(info.value) == [field]
    assert str(MAX_TEXT) in info.value.violations[0].description


# --- INV-10 / INV-2: stock levels ---------------------------------------------------------------------


def test_inv10_available_is_on_hand_minus_reserved_minus_held() -> None:
    level = StockLevel("TEE-001-RED-M", "MAIN", on_hand=10, reserved=3, held=2, sellable=True)
    assert level.available == 5


def test_inv10_nothing_reserved_or_held_is_all_available() -> None:
    assert StockLevel("S", "MAIN", on_hand=7, reserved=0, held=0, sellable=True).available == 7


def test_inv2_stock_in_a_defective_warehouse_is_never_available() -> None:
    level = StockLevel("TEE-001-RED-M", "DEFECTIVE", on_hand=10, reserved=0, held=0, sellable=False)
    assert level.available == 0


# --- stock in -----------------------------------------------------------------------------------------


def test_stock_in_valid_receipt_is_normalised() -> None:
    receipt = stock_in(sku_code=" TEE-001-RED-M ", warehouse_code=" MAIN", quantity=12, note=" PO 4711 ")
    assert receipt == StockIn("TEE-001-RED-M", "MAIN", 12, "PO 4711")


@pytest.mark.parametrize("quantity", [1, MAX_MOVEMENT_QUANTITY])
def test_stock_in_quantity_bounds_are_accepted(quantity: int) -> None:
    assert stock_in(sku_code="S", warehouse_code="W", quantity=quantity, note="").quantity == quantity


@pytest.mark.parametrize("quantity", [0, -1, -500, MAX_MOVEMENT_QUANTITY + 1])
def test_stock_in_bad_quantity_names_quantity(quantity: int) -> None:
    with pytest.raises(InvalidArgument) as info:
        stock_in(sku_code="S", warehouse_code="W", quantity=quantity, note="")
    assert _fields_of(info.value) == ["quantity"]
    assert info.value.message.startswith("quantity: ")


def test_stock_in_names_every_offending_field() -> None:
    with pytest.raises(InvalidArgument) as info:
        stock_in(sku_code=" ", warehouse_code="", quantity=0, note="n" * (MAX_NOTE + 1))
    assert _fields_of(info.value) == ["sku_code", "warehouse_code", "quantity", "note"]


def test_stock_in_note_is_bounded() -> None:
    assert stock_in(sku_code="S", warehouse_code="W", quantity=1, note="n" * MAX_NOTE).note == "n" * MAX_NOTE


# --- INV-13: what a short count cuts ---------------------------------------------------------------------


def _at(minute: int) -> datetime:
    return datetime(2026, 12, 1, 10, minute, tzinfo=UTC)


def test_inv_13_holds_go_first_then_the_newest_orders() -> None:
    from services.inventory.domain.counts import HeldUnits, ReservedOrder, promises_to_cut

    holds = [HeldUnits("h-old", "A", 1, _at(1)), HeldUnits("h-new", "A", 1, _at(9))]
    orders = [
        ReservedOrder("o-1", {"A": 2}, _at(2)),
        ReservedOrder("o-2", {"A": 2}, _at(3)),
        ReservedOrder("o-3", {"A": 1}, _at(4)),
    ]
    assert promises_to_cut({"A": 1}, holds, orders).hold_ids == ("h-new",)
    assert promises_to_cut({"A": 2}, holds, orders).order_ids == ()
    cut = promises_to_cut({"A": 4}, holds, orders)
    assert (cut.hold_ids, cut.order_ids) == (("h-new", "h-old"), ("o-3", "o-2"))
    assert promises_to_cut({"A": 0}, holds, orders).order_ids == ()


def test_inv_13_a_cut_order_relieves_every_short_sku_it_held() -> None:
    from services.inventory.domain.counts import ReservedOrder, promises_to_cut

    orders = [ReservedOrder("o-1", {"A": 1}, _at(1)), ReservedOrder("o-2", {"A": 1, "B": 3}, _at(2))]
    assert promises_to_cut({"A": 1, "B": 3}, [], orders).order_ids == ("o-2",)
    # Not enough to cover: everything that holds the SKU is cut, and no more.
    assert promises_to_cut({"A": 5}, [], orders).order_ids == ("o-2", "o-1")


def test_inv_10_a_posting_announces_only_what_it_made_available_for_sale() -> None:
    from services.inventory.domain.stock import (
        Movement,
        MovementKind,
        StockLevel,
        availability_gains,
    )

    levels = {
        ("A", "MAIN"): StockLevel("A", "MAIN", 10, 2, 0, True),
        ("B", "MAIN"): StockLevel("B", "MAIN", 5, 5, 0, True),
        ("A", "DEFECTIVE"): StockLevel("A", "DEFECTIVE", 3, 0, 0, False),
    }
    movements = [
        Movement(
            MovementKind.RECEIPT, "A", "MAIN", on_hand_delta=4, document_type="receipt", document_id="r1"
        ),
        Movement(
            MovementKind.RESERVATION, "B", "MAIN", reserved_delta=1, document_type="order", document_id="o"
        ),
        Movement(
            MovementKind.TRANSFER_IN,
            "A",
            "DEFECTIVE",
            on_hand_delta=3,
            document_type="count",
            document_id="c",
        ),
    ]
    gains = availability_gains(movements, levels)
    assert [(g.sku_code, g.warehouse_code, g.added, g.available, g.document_id) for g in gains] == [
        ("A", "MAIN", 4, 8, "r1")
    ]
