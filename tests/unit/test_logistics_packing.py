"""LOG-4 packing and weighing: parcel weights from 1 g to 60,000 g (boundaries, absurd readings refused
naming the field), the carrier zone and freight of a packed parcel (LOG-7 tariffs), and the freight saved
by merging orders into one parcel."""

from __future__ import annotations

import pytest

from libs.errors import FailedPrecondition, InvalidArgument
from services.logistics.domain.carriers import Carrier, ZonePrice
from services.logistics.domain.packing import (
    MAX_WEIGHT_GRAMS,
    MIN_WEIGHT_GRAMS,
    Packing,
    checked_weight,
    freight_saved,
    pack,
)

SF = Carrier(
    code="sf",
    name="SF Express 顺丰",
    coverage={"Zhejiang", "Guangdong"},
    zones={"Zhejiang": 1, "Guangdong": 2, "Xinjiang": 3},  # Xinjiang suspended
    service_days={1: 1, 2: 2, 3: 4},
    # Zone 1: 12.00 yuan up to 1 kg, 2.00 per further started kg; zone 2: 23.00 and 13.00.
    prices={1: ZonePrice(1_200, 200), 2: ZonePrice(2_300, 1_300), 3: ZonePrice(3_000, 2_000)},
)


def fields(
    err: pytest.ExceptionInfo[InvalidArgument] | pytest.ExceptionInfo[FailedPrecondition],
) -> list[str]:
    return [v.field for v in err.value.violations]


# --- weights -----------------------------------------------------------------------------------------------


def test_log4_weight_limits_are_1_g_and_60_kg() -> None:
    assert (MIN_WEIGHT_GRAMS, MAX_WEIGHT_GRAMS) == (1, 60_000)


@pytest.mark.parametrize("grams", [1, 2, 1_000, 59_999, 60_000])
def test_log4_weights_from_1_g_to_60000_g_are_accepted(grams: int) -> None:
    assert checked_weight(grams) == grams


@pytest.mark.parametrize("grams", [0, -1, -60_000, 60_001, 600_000, 10**12])
def test_log4_zero_negative_and_absurd_weights_are_refused_naming_the_field(grams: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_weight(grams)
    assert fields(err) == ["weight_grams"]
    assert str(grams) in err.value.message


@pytest.mark.parametrize("reading", [True, 1.5, "500"])
def test_log4_a_weight_must_be_whole_grams(reading: object) -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_weight(reading)  # type: ignore[arg-type]
    assert fields(err) == ["weight_grams"]


def test_log4_weight_refusal_names_the_callers_field() -> None:
    with pytest.raises(InvalidArgument) as err:
        checked_weight(60_001, field="parcels[3].weight_grams")
    assert fields(err) == ["parcels[3].weight_grams"]


# --- packing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("province", "grams", "zone", "fen"),
    [
        ("Zhejiang", 1, 1, 1_200),  # lightest parcel: the first weight only
        ("Zhejiang", 1_001, 1, 1_400),  # 1 g over the first kilogram starts another
        ("Guangdong", 2_500, 2, 2_300 + 2 * 1_300),
        ("Guangdong", 60_000, 2, 2_300 + 59 * 1_300),  # heaviest parcel
    ],
)
def test_log4_packed_parcel_has_its_weight_zone_and_freight(
    province: str, grams: int, zone: int, fen: int
) -> None:
    assert pack(SF, province, grams) == Packing("sf", province, zone, grams, fen)


def test_log4_province_is_trimmed() -> None:
    assert pack(SF, " Zhejiang\n", 500) == Packing("sf", "Zhejiang", 1, 500, 1_200)


@pytest.mark.parametrize("grams", [0, -5, 60_001])
def test_log4_packing_refuses_an_absurd_weight_naming_weight_grams(grams: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        pack(SF, "Zhejiang", grams)
    assert fields(err) == ["weight_grams"]


@pytest.mark.parametrize("province", ["Xinjiang", "Tibet"])
def test_log4_packing_for_a_province_the_carrier_does_not_cover_is_refused(province: str) -> None:
    with pytest.raises(FailedPrecondition) as err:
        pack(SF, province, 500)
    assert err.value.reason == "PROVINCE_NOT_COVERED"
    assert fields(err) == ["province"]


def test_log4_packing_needs_a_province() -> None:
    with pytest.raises(InvalidArgument) as err:
        pack(SF, "  ", 500)
    assert fields(err) == ["province"]


# --- merged parcels ----------------------------------------------------------------------------------------


def test_log4_merging_saves_the_separate_freight_less_the_merged_freight() -> None:
    # Alone: 12.00 + 12.00 + 14.00; merged 2.5 kg: 12.00 + 2 x 2.00.
    assert freight_saved(SF, "Zhejiang", 2_500, [800, 200, 1_400]) == 3_800 - 1_600


def test_log4_merging_two_light_orders_saves_one_first_weight() -> None:
    assert freight_saved(SF, "Guangdong", 1_000, [400, 600]) == 2_300


def test_log4_freight_saved_is_never_negative() -> None:
    # Packing material pushes the merged parcel over more kilograms than the orders alone would start.
    assert freight_saved(SF, "Guangdong", 60_000, [1, 1]) == 0


@pytest.mark.parametrize(
    ("merged", "separate", "bad"),
    [
        (0, [500, 500], ["merged_weight"]),
        (60_001, [500, 500], ["merged_weight"]),
        (1_000, [500, 0], ["separate_weights[1]"]),
        (1_000, [-1, 60_001], ["separate_weights[0]", "separate_weights[1]"]),
        (0, [0, 500], ["merged_weight", "separate_weights[0]"]),
        (1_000, [1_000], ["separate_weights"]),
        (1_000, [], ["separate_weights"]),
    ],
)
def test_log4_freight_saved_refuses_bad_weights_naming_each_field(
    merged: int, separate: list[int], bad: list[str]
) -> None:
    with pytest.raises(InvalidArgument) as err:
        freight_saved(SF, "Zhejiang", merged, separate)
    assert fields(err) == bad


def test_log4_freight_saved_accepts_the_weight_boundaries() -> None:
    assert freight_saved(SF, "Zhejiang", 60_000, [1, 60_000]) == 1_200
    assert freight_saved(SF, "Zhejiang", 1, [1, 1]) == 1_200


def test_log4_freight_saved_to_an_uncovered_province_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as err:
        freight_saved(SF, "Xinjiang", 1_000, [500, 500])
    assert fields(err) == ["province"]
