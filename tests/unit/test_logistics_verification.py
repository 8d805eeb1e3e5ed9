"""LOG-3 verification (验货): the label and packing slip name the parcel, item barcodes (SKU codes and lot
labels) are counted one unit per scan, wrong and extra items are refused and not counted, and only a
parcel with every expected unit scanned is verified; a verification rebuilt from stored counts goes on."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from libs.errors import FailedPrecondition, InvalidArgument
from services.inventory.domain.lots import label_id_for
from services.logistics.domain.verification import (
    ScanOutcome,
    SkuDifference,
    Verification,
    check_documents,
    sku_of_barcode,
)

PARCEL = "parcel-0001"
TEA = "LJ-250-GRN"  # a SKU code with dashes of its own, like the lot label's separator
CUP = "CUP-01"
EXPECTED = {TEA: 2, CUP: 1}
TEA_LOT = label_id_for(TEA, uuid.UUID("0123456789abcdef0123456789abcdef"))  # "LJ-250-GRN-0123456789"


def fields(
    err: pytest.ExceptionInfo[InvalidArgument] | pytest.ExceptionInfo[FailedPrecondition],
) -> list[str]:
    return [v.field for v in err.value.violations]


def fresh() -> Verification:
    return Verification(PARCEL, EXPECTED)


# --- documents ---------------------------------------------------------------------------------------------


def test_log3_label_and_slip_of_this_parcel_pass() -> None:
    check_documents(PARCEL, PARCEL, PARCEL)
    # Scanners end a read with a line feed or carriage return.
    check_documents(PARCEL, f"{PARCEL}\r\n", f" {PARCEL}\n")


def test_log3_label_of_another_parcel_is_refused_naming_label_barcode() -> None:
    with pytest.raises(FailedPrecondition) as err:
        check_documents(PARCEL, "parcel-0002", PARCEL)
    assert err.value.reason == "LABEL_MISMATCH"
    assert fields(err) == ["label_barcode"]
    assert "parcel-0002" in err.value.message


def test_log3_packing_slip_of_another_parcel_is_refused_naming_packing_slip_barcode() -> None:
    with pytest.raises(FailedPrecondition) as err:
        check_documents(PARCEL, PARCEL, "parcel-0002")
    assert err.value.reason == "LABEL_MISMATCH"
    assert fields(err) == ["packing_slip_barcode"]


def test_log3_label_and_slip_both_wrong_name_both_fields() -> None:
    with pytest.raises(FailedPrecondition) as err:
        check_documents(PARCEL, "parcel-0002", "parcel-0003")
    assert err.value.reason == "LABEL_MISMATCH"
    assert fields(err) == ["label_barcode", "packing_slip_barcode"]


def test_log3_label_matching_the_slip_but_not_the_parcel_is_refused() -> None:
    # Label and slip of the same other parcel agree with each other, yet neither is this parcel's.
    with pytest.raises(FailedPrecondition) as err:
        check_documents(PARCEL, "parcel-0002", "parcel-0002")
    assert fields(err) == ["label_barcode", "packing_slip_barcode"]


def test_log3_missing_documents_are_invalid_arguments() -> None:
    with pytest.raises(InvalidArgument) as err:
        check_documents(PARCEL, "", " \n")
    assert fields(err) == ["label_barcode", "packing_slip_barcode"]
    with pytest.raises(InvalidArgument) as err:
        check_documents("", PARCEL, PARCEL)
    assert fields(err) == ["parcel_id"]


# --- barcodes ----------------------------------------------------------------------------------------------


def test_log3_plain_sku_barcode_is_its_sku() -> None:
    assert sku_of_barcode(TEA, {TEA, CUP}) == TEA
    assert sku_of_barcode(f"{CUP}\n", {TEA, CUP}) == CUP


def test_log3_lot_label_barcode_is_its_sku() -> None:
    assert TEA_LOT == "LJ-250-GRN-0123456789"
    assert sku_of_barcode(TEA_LOT, {TEA, CUP}) == TEA
    assert sku_of_barcode(label_id_for(CUP, uuid.uuid4()), {TEA, CUP}) == CUP


def test_log3_sku_code_that_looks_like_a_lot_label_is_itself() -> None:
    odd = "BOX-ABCDEF0123"
    assert sku_of_barcode(odd, {"BOX", odd}) == odd


@pytest.mark.parametrize(
    "barcode",
    [
        "",
        "  ",
        "TEA-999",  # no such SKU
        "LJ-250-GRN-0123456789".lower(),  # lower-case SKU and suffix
        f"{TEA}-012345678a",  # a lower-case hex digit
        f"{TEA}-012345678",  # 9 hex digits
        f"{TEA}-0123456789A",  # 11 hex digits
        f"{TEA}-012345678G",  # not hex
        f"{TEA}0123456789",  # no dash
        "NOPE-0123456789",  # a lot label of an unknown SKU
    ],
)
def test_log3_any_other_barcode_is_unknown(barcode: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        sku_of_barcode(barcode, {TEA, CUP})
    assert err.value.reason == "UNKNOWN_BARCODE"
    assert fields(err) == ["barcode"]


# --- scanning ----------------------------------------------------------------------------------------------


def test_log3_scanning_every_expected_unit_verifies_the_parcel() -> None:
    v = fresh()
    assert not v.verified
    first = v.scan(TEA)
    assert first == ScanOutcome(TEA, TEA, scanned=1, expected=2, parcel_missing=2, verified=False)
    second = v.scan(TEA_LOT)  # a lot label counts for its SKU
    assert second == ScanOutcome(TEA_LOT, TEA, scanned=2, expected=2, parcel_missing=1, verified=False)
    last = v.scan(f"{CUP}\r\n")
    assert last == ScanOutcome(CUP, CUP, scanned=1, expected=1, parcel_missing=0, verified=True)
    assert v.verified
    assert v.scanned == {TEA: 2, CUP: 1}
    v.require_verified()


def test_log3_wrong_item_is_refused_and_not_counted() -> None:
    v = fresh()
    v.scan(TEA)
    with pytest.raises(FailedPrecondition) as err:
        v.scan("MUG-07")
    assert err.value.reason == "WRONG_ITEM"
    assert fields(err) == ["barcode"]
    assert err.value.metadata == {"sku_code": "MUG-07", "parcel_id": PARCEL}
    # The message lists the difference so the packer sees what the parcel still needs.
    assert f"{CUP}: expected 1, scanned 0, missing 1" in err.value.message
    assert f"{TEA}: expected 2, scanned 1, missing 1" in err.value.message
    assert v.scanned == {TEA: 1}
    assert "MUG-07" not in [row.sku_code for row in v.difference()]


def test_log3_wrong_item_by_its_lot_label_names_its_sku() -> None:
    v = fresh()
    mug_lot = label_id_for("MUG-07", uuid.uuid4())
    with pytest.raises(FailedPrecondition) as err:
        v.scan(mug_lot)
    assert err.value.reason == "WRONG_ITEM"
    assert err.value.metadata["sku_code"] == "MUG-07"
    assert v.scanned == {}


def test_log3_extra_item_is_refused_and_not_counted() -> None:
    v = fresh()
    v.scan(TEA)
    v.scan(TEA)
    with pytest.raises(FailedPrecondition) as err:
        v.scan(TEA_LOT)
    assert err.value.reason == "EXTRA_ITEM"
    assert fields(err) == ["barcode"]
    assert err.value.metadata["sku_code"] == TEA
    assert f"{TEA}: expected 2, scanned 2, missing 0" in err.value.message
    assert f"{CUP}: expected 1, scanned 0, missing 1" in err.value.message
    assert v.scanned == {TEA: 2}
    # The refusal changed nothing: the parcel completes as if it never happened.
    assert v.scan(CUP).verified


def test_log3_any_scan_after_verification_is_refused() -> None:
    v = Verification(PARCEL, EXPECTED, {TEA: 2, CUP: 1})
    for barcode, reason in [(CUP, "EXTRA_ITEM"), (TEA_LOT, "EXTRA_ITEM"), ("MUG-07", "WRONG_ITEM")]:
        with pytest.raises(FailedPrecondition) as err:
            v.scan(barcode)
        assert err.value.reason == reason
    assert v.verified
    assert v.scanned == {TEA: 2, CUP: 1}


def test_log3_with_a_catalogue_an_unknown_barcode_is_refused_and_not_counted() -> None:
    v = fresh()
    with pytest.raises(InvalidArgument) as err:
        v.scan("GARBAGE", known_skus={TEA, CUP, "MUG-07"})
    assert err.value.reason == "UNKNOWN_BARCODE"
    assert fields(err) == ["barcode"]
    # A known SKU of the catalogue that is not in the parcel is a wrong item.
    with pytest.raises(FailedPrecondition) as wrong:
        v.scan(label_id_for("MUG-07", uuid.uuid4()), known_skus={"MUG-07"})
    assert wrong.value.reason == "WRONG_ITEM"
    # The parcel's own SKUs are known even when the catalogue passed leaves them out.
    assert v.scan(TEA_LOT, known_skus={"MUG-07"}).sku_code == TEA
    assert v.scanned == {TEA: 1}


def test_log3_empty_scan_is_refused_and_not_counted() -> None:
    v = fresh()
    with pytest.raises(InvalidArgument) as err:
        v.scan("\r\n")
    assert err.value.reason == "UNKNOWN_BARCODE"
    assert fields(err) == ["barcode"]
    assert v.scanned == {}


# --- difference and the packing gate -----------------------------------------------------------------------


def test_log3_difference_lists_expected_scanned_missing_and_extra_per_sku() -> None:
    v = fresh()
    v.scan(TEA)
    assert v.difference() == (SkuDifference(CUP, 1, 0), SkuDifference(TEA, 2, 1))
    rows = {row.sku_code: (row.expected, row.scanned, row.missing, row.extra) for row in v.difference()}
    assert rows == {CUP: (1, 0, 1, 0), TEA: (2, 1, 1, 0)}


def test_log3_only_a_verified_parcel_is_packed_not_verified_lists_what_is_missing() -> None:
    v = fresh()
    v.scan(TEA)
    with pytest.raises(FailedPrecondition) as err:
        v.require_verified()
    assert err.value.reason == "NOT_VERIFIED"
    assert fields(err) == ["parcel_id"]
    assert f"{CUP}: expected 1, scanned 0, missing 1" in err.value.message
    assert f"{TEA}: expected 2, scanned 1, missing 1" in err.value.message
    v.scan(TEA)
    with pytest.raises(FailedPrecondition) as err:
        v.require_verified()
    # Only what is still off is listed.
    assert TEA not in err.value.message
    v.scan(CUP)
    v.require_verified()


# --- rebuilding from stored counts -------------------------------------------------------------------------


def test_log3_rebuilt_verification_continues_from_stored_counts() -> None:
    first = fresh()
    first.scan(TEA_LOT)
    stored = dict(first.scanned)
    rebuilt = Verification(PARCEL, EXPECTED, stored)
    assert rebuilt.difference() == first.difference()
    assert rebuilt.scan(TEA) == ScanOutcome(TEA, TEA, scanned=2, expected=2, parcel_missing=1, verified=False)
    with pytest.raises(FailedPrecondition) as err:
        rebuilt.scan(TEA)
    assert err.value.reason == "EXTRA_ITEM"
    assert rebuilt.scan(CUP).verified
    # The caller's stored mapping is not the aggregate's state.
    assert stored == {TEA: 1}


def test_log3_rebuilt_with_every_unit_scanned_is_verified() -> None:
    v = Verification(PARCEL, EXPECTED, {TEA: 2, CUP: 1, "MUG-07": 0})
    assert v.verified
    assert v.scanned == {TEA: 2, CUP: 1}
    v.require_verified()


def test_log3_stored_units_the_parcel_no_longer_expects_are_extra_and_block_packing() -> None:
    # The order lost a cup and a mug line after scanning began.
    v = Verification(PARCEL, {TEA: 2}, {TEA: 2, CUP: 1})
    assert not v.verified
    assert v.difference() == (SkuDifference(CUP, 0, 1), SkuDifference(TEA, 2, 2))
    assert (v.difference()[0].missing, v.difference()[0].extra) == (0, 1)
    with pytest.raises(FailedPrecondition) as err:
        v.require_verified()
    assert err.value.reason == "NOT_VERIFIED"
    assert f"{CUP}: expected 0, scanned 1, missing 0, extra 1" in err.value.message
    with pytest.raises(FailedPrecondition) as wrong:
        v.scan(CUP)
    assert wrong.value.reason == "WRONG_ITEM"


@pytest.mark.parametrize(
    ("expected", "scanned", "field"),
    [
        ({}, {}, "expected"),
        ({TEA: 0}, {}, f"expected[{TEA}]"),
        ({TEA: -1}, {}, f"expected[{TEA}]"),
        ({TEA: True}, {}, f"expected[{TEA}]"),
        ({" TEA": 1}, {}, "expected[ TEA]"),
        ({"": 1}, {}, "expected[]"),
        ({TEA: 1}, {TEA: -1}, f"scanned[{TEA}]"),
        ({TEA: 1}, {TEA: False}, f"scanned[{TEA}]"),
        ({TEA: 1}, {"": 1}, "scanned[]"),
    ],
)
def test_log3_bad_expected_or_stored_counts_are_refused_naming_the_sku(
    expected: dict[str, int], scanned: dict[str, int], field: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        Verification(PARCEL, expected, scanned)
    assert field in fields(err)


def test_log3_a_parcel_needs_an_id() -> None:
    with pytest.raises(InvalidArgument) as err:
        Verification(" ", EXPECTED)
    assert fields(err) == ["parcel_id"]


@given(
    expected=st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(1, 3), min_size=1),
    scans=st.lists(st.sampled_from(["A", "B", "C", "D", "A-00000000FF", "B-ABCDEF0123"]), max_size=15),
)
def test_log3_counts_never_pass_the_expected_units_and_verified_means_exactly_expected(
    expected: dict[str, int], scans: list[str]
) -> None:
    v = Verification(PARCEL, expected)
    for barcode in scans:
        before = dict(v.scanned)
        try:
            outcome = v.scan(barcode)
        except FailedPrecondition:
            assert v.scanned == before  # a refusal counts nothing
            continue
        assert v.scanned[outcome.sku_code] == before.get(outcome.sku_code, 0) + 1
        assert outcome.verified == v.verified
    assert all(v.scanned.get(sku, 0) <= units for sku, units in expected.items())
    assert set(v.scanned) <= set(expected)
    assert v.verified == (dict(v.scanned) == expected)
