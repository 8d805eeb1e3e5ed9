"""LOG-7 carriers: freight by zone and weight (首重 + 续重, in integer fen), promised days, coverage refusals
naming the field, and the choice of carrier for an order."""

from __future__ import annotations

import pytest

from libs.errors import FailedPrecondition, InvalidArgument
from services.logistics.domain.carriers import (
    Carrier,
    ZonePrice,
    choose_carrier,
    freight_fen,
    promised_days,
)

SF = Carrier(
    code="sf",
    name="SF Express 顺丰",
    coverage={"Zhejiang", "Shanghai", "Guangdong", "Xinjiang"},
    zones={"Zhejiang": 1, "Shanghai": 1, "Guangdong": 2, "Xinjiang": 3},
    service_days={1: 1, 2: 2, 3: 4},
    prices={1: ZonePrice(1_200, 200), 2: ZonePrice(2_300, 1_300), 3: ZonePrice(3_000, 2_000)},
)
ZTO = Carrier(
    code="zto",
    name="ZTO 中通",
    # Xinjiang is in the tariff but suspended from coverage.
    coverage={"Zhejiang", "Shanghai", "Guangdong"},
    zones={"Zhejiang": 1, "Shanghai": 1, "Guangdong": 2, "Xinjiang": 4},
    service_days={1: 2, 2: 3, 4: 6},
    prices={1: ZonePrice(500, 100), 2: ZonePrice(800, 300), 4: ZonePrice(1_800, 1_500)},
)
YTO = Carrier(
    code="yto",
    name="YTO 圆通",
    coverage={"Zhejiang", "Shanghai", "Guangdong"},
    zones={"Zhejiang": 1, "Shanghai": 1, "Guangdong": 2},
    service_days={1: 2, 2: 3},
    prices={1: ZonePrice(500, 100), 2: ZonePrice(900, 300)},
)
CARRIERS = [SF, ZTO, YTO]


def fields(
    err: pytest.ExceptionInfo[InvalidArgument] | pytest.ExceptionInfo[FailedPrecondition],
) -> list[str]:
    return [v.field for v in err.value.violations]


# --- pricing -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grams", "fen"),
    [
        (1, 1_200),  # anything up to the first kilogram pays the first weight only
        (999, 1_200),
        (1_000, 1_200),  # exactly 1 kg
        (1_001, 1_400),  # 1 g over starts a whole further kilogram
        (2_000, 1_400),
        (2_001, 1_600),
        (3_500, 1_800),  # 2.5 kg beyond the first -> 3 further kilograms
        (10_000, 3_000),
    ],
)
def test_log7_first_weight_plus_each_started_kilogram(grams: int, fen: int) -> None:
    assert freight_fen(SF, "Zhejiang", grams) == fen


def test_log7_zones_price_differently() -> None:
    assert [freight_fen(SF, p, 1_000) for p in ("Shanghai", "Guangdong", "Xinjiang")] == [1_200, 2_300, 3_000]
    assert [freight_fen(SF, p, 2_500) for p in ("Shanghai", "Guangdong", "Xinjiang")] == [1_600, 4_900, 7_000]


def test_log7_freight_is_integer_fen() -> None:
    result = freight_fen(ZTO, "Guangdong", 4_321)
    assert type(result) is int and result == 800 + 4 * 300


def test_log7_a_first_weight_other_than_one_kilogram() -> None:
    half_kilo = ZonePrice(first_weight_fen=600, additional_kg_fen=250, first_weight_grams=500)
    assert [half_kilo.price_fen(g) for g in (500, 501, 1_500, 1_501)] == [600, 850, 850, 1_100]


@pytest.mark.parametrize("grams", [0, -1, -1_000])
def test_log7_weight_not_above_zero_is_refused_naming_weight_grams(grams: int) -> None:
    with pytest.raises(InvalidArgument) as caught:
        freight_fen(SF, "Zhejiang", grams)
    assert fields(caught) == ["weight_grams"]


def test_log7_a_province_outside_coverage_is_refused_naming_province() -> None:
    for call in (lambda: freight_fen(ZTO, "Xinjiang", 1_000), lambda: promised_days(ZTO, "Tibet")):
        with pytest.raises(FailedPrecondition) as caught:
            call()
        assert fields(caught) == ["province"]
        assert caught.value.reason == "PROVINCE_NOT_COVERED"


def test_log7_promised_days_follow_the_zone() -> None:
    assert [promised_days(SF, p) for p in ("Zhejiang", "Guangdong", "Xinjiang")] == [1, 2, 4]
    assert promised_days(ZTO, " Shanghai ") == 2


# --- carrier terms are validated ---------------------------------------------------------------------------


def test_log7_tariff_values_are_validated() -> None:
    with pytest.raises(InvalidArgument) as caught:
        ZonePrice(-1, -1, 0)
    assert fields(caught) == ["first_weight_fen", "additional_kg_fen", "first_weight_grams"]


def test_log7_a_covered_province_needs_a_zone_a_promise_and_a_price() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Carrier(
            code="jd",
            name="JD Logistics",
            coverage={"Beijing", "Hebei", "Tianjin"},
            zones={"Beijing": 1, "Hebei": 2},
            service_days={1: 1, 2: 0},
            prices={1: ZonePrice(1_000, 200)},
        )
    assert fields(caught) == ["prices[2]", "zones[Tianjin]", "service_days[2]"]


def test_log7_carrier_terms_cannot_change_after_they_are_built() -> None:
    zones = {"Zhejiang": 1}
    carrier = Carrier("ems", "EMS", {"Zhejiang"}, zones, {1: 3}, {1: ZonePrice(1_000, 500)})
    zones["Zhejiang"] = 9
    assert carrier.zones["Zhejiang"] == 1
    assert isinstance(carrier.coverage, frozenset)


# --- choosing a carrier ------------------------------------------------------------------------------------


def test_log7_the_orders_own_choice_wins_when_it_covers_the_province() -> None:
    # SF is the fastest to Zhejiang, but the order asked for ZTO.
    assert choose_carrier(CARRIERS, "Zhejiang", "zto") is ZTO
    assert choose_carrier(CARRIERS, "Xinjiang", "sf") is SF


def test_log7_a_chosen_carrier_that_does_not_cover_is_refused_naming_carrier_code() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        choose_carrier(CARRIERS, "Xinjiang", "zto")
    assert fields(caught) == ["carrier_code"]


def test_log7_an_unknown_chosen_carrier_is_refused_naming_carrier_code() -> None:
    with pytest.raises(InvalidArgument) as caught:
        choose_carrier(CARRIERS, "Zhejiang", "dhl")
    assert fields(caught) == ["carrier_code"]


@pytest.mark.parametrize("preferred", [None, "", "  "])
def test_log7_without_a_choice_the_fastest_covering_carrier_wins(preferred: str | None) -> None:
    assert choose_carrier(CARRIERS, "Zhejiang", preferred) is SF
    # Only SF covers Xinjiang (ZTO has suspended it).
    assert choose_carrier(CARRIERS, "Xinjiang", preferred) is SF


def test_log7_equal_promises_go_to_the_cheaper_one_kilogram_parcel() -> None:
    # ZTO and YTO both promise 3 days to Guangdong; ZTO's 1 kg parcel costs 800 fen, YTO's 900.
    assert choose_carrier([YTO, ZTO], "Guangdong") is ZTO
    assert choose_carrier([SF], "Guangdong") is SF


def test_log7_equal_promise_and_price_go_to_the_lower_code() -> None:
    # ZTO and YTO both promise 2 days and charge 500 fen for 1 kg to Zhejiang.
    assert choose_carrier([ZTO, YTO], "Zhejiang") is YTO
    assert choose_carrier([YTO, ZTO], "Zhejiang") is YTO


def test_log7_the_tie_break_compares_one_kilogram_not_heavier_parcels() -> None:
    cheap_first = Carrier("aaa", "A", {"Hainan"}, {"Hainan": 1}, {1: 3}, {1: ZonePrice(500, 900)})
    cheap_extra = Carrier("bbb", "B", {"Hainan"}, {"Hainan": 1}, {1: 3}, {1: ZonePrice(600, 100)})
    assert choose_carrier([cheap_extra, cheap_first], "Hainan") is cheap_first


def test_log7_no_covering_carrier_is_a_failed_precondition_naming_address_province() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        choose_carrier(CARRIERS, "Tibet")
    assert fields(caught) == ["address.province"]
    assert caught.value.reason == "NO_CARRIER_COVERS"
    with pytest.raises(FailedPrecondition):
        choose_carrier([], "Zhejiang")


def test_log7_an_empty_province_or_a_duplicated_carrier_is_refused() -> None:
    with pytest.raises(InvalidArgument) as caught:
        choose_carrier(CARRIERS, " ")
    assert fields(caught) == ["address.province"]
    with pytest.raises(InvalidArgument) as caught:
        choose_carrier([SF, ZTO, SF], "Zhejiang")
    assert fields(caught) == ["carriers[2].code"]
