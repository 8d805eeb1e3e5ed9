"""Shipments of released orders, merged parcels (合单) and exchange shipments, without a database."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from shop.orders.v1 import events_pb2, orders_pb2

from libs.errors import FailedPrecondition, InvalidArgument
from libs.timestamps import to_timestamp
from services.logistics.consumers import new_shipments
from services.logistics.domain.carriers import Carrier, CarrierChoice, ZonePrice
from services.logistics.domain.shipments import (
    SHIPMENT_ID_NAMESPACE,
    Address,
    ReleasedOrder,
    ReleasedShipment,
    WaitingShipment,
    exchange_shipment,
    parcel_id_for,
    parcels_of,
    shipment_id_for,
    shipments_of,
)
from services.logistics.domain.waves import WaveClock, WaveSlot, slot_for

HOME = Address("Wang Fang", "13812345678", "Zhejiang", "Hangzhou", "Xihu", "18 Longjing Road")
WORK = Address("Wang Fang", "13812345678", "Zhejiang", "Hangzhou", "Binjiang", "99 Wangshang Road")
AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SF = Carrier("sf", "顺丰速运", {"Zhejiang"}, {"Zhejiang": 1}, {1: 1}, {1: ZonePrice(1200, 200, 1000)})
ZTO = Carrier("zto", "中通快递", {"Zhejiang", "Xinjiang"}, {"Zhejiang": 1, "Xinjiang": 3}, {1: 2, 3: 5},
              {1: ZonePrice(500, 100, 1000), 3: ZonePrice(1800, 1500, 1000)})  # fmt: skip
LAST = WaveSlot(date(2026, 12, 1), time(17, 30), number=5, last_of_day=True)
FIRST = WaveSlot(date(2026, 12, 1), time(10, 30), number=1, last_of_day=False)


def order(
    order_id: str = "o-1", *shipments: ReleasedShipment, carrier: str = "", note: str = ""
) -> ReleasedOrder:
    return ReleasedOrder(
        order_id, "tmall", f"TM-{order_id}", "tmall-flagship", "buyer-77",
        shipments or (ReleasedShipment(HOME, (("TEA", 2),)),), carrier, note, "", AT,
    )  # fmt: skip


def waiting(shipment_id: str, order_id: str, *, buyer: str = "buyer-77", address: Address = HOME,
            carrier: str = "sf", notes: str = "", shop: str = "tmall-flagship") -> WaitingShipment:  # fmt: skip
    return WaitingShipment(shipment_id, order_id, shop, buyer, address, carrier, notes)


def test_log_1_a_split_order_becomes_one_shipment_per_address_with_stable_ids() -> None:
    """ORD-7 splits ship as several shipments; applying the same release again names the same ones."""
    split = order("o-1", ReleasedShipment(HOME, (("TEA", 1),)), ReleasedShipment(WORK, (("TEA", 1),)))
    made = shipments_of(split, [SF, ZTO])
    assert [(s.shipment_no, s.address) for s in made] == [(1, HOME), (2, WORK)]
    assert [s.shipment_id for s in made] == [shipment_id_for("o-1", 1), shipment_id_for("o-1", 2)]
    assert [s.shipment_id for s in shipments_of(split, [SF, ZTO])] == [s.shipment_id for s in made]


def test_shipment_ids_are_the_version_5_uuids_of_order_and_number() -> None:
    """Ids stored before stay the ids of the same shipments: the hand-written id is uuid5's, to the byte."""
    for order_id, no in [("o-1", 1), ("o-1", 2), ("订单-8848", 3), ("", 1)]:
        assert shipment_id_for(order_id, no) == str(uuid.uuid5(SHIPMENT_ID_NAMESPACE, f"{order_id}/{no}"))


def test_log_7_one_carrier_choice_serves_a_batch_and_remembers_refusals_too() -> None:
    choice = CarrierChoice([SF, ZTO])
    assert choice.of("Zhejiang") == ("sf", "")
    assert choice.of("Zhejiang", "zto") == ("zto", "")
    code, reason = choice.of("Tibet")
    assert code == "" and reason.startswith("NO_CARRIER_COVERS")
    assert choice.of("Zhejiang", "ems") == (
        "",
        "INVALID_ARGUMENT: carrier_code: no carrier 'ems' is configured",
    )
    shipped = [shipments_of(order(f"o-{n}"), choice)[0].carrier_code for n in range(3)]
    assert shipped == ["sf", "sf", "sf"]


def test_log_7_the_carrier_is_the_orders_choice_else_the_fastest_and_none_covering_waits_on_hold() -> None:
    assert shipments_of(order(carrier="zto"), [SF, ZTO])[0].carrier_code == "zto"
    assert shipments_of(order(), [SF, ZTO])[0].carrier_code == "sf"  # 1 day beats 2
    far = order("o-2", ReleasedShipment(replace_province(HOME, "Tibet"), (("TEA", 1),)))
    (held,) = shipments_of(far, [SF, ZTO])
    assert held.carrier_code == "" and "NO_CARRIER_COVERS" in held.hold_reason


def replace_province(a: Address, province: str) -> Address:
    return Address(a.recipient, a.phone, province, a.city, a.district, a.street)


def test_merged_parcels_join_one_buyer_shop_address_and_carrier_only() -> None:
    """合单: same buyer, shop, door (case and spacing aside) and carrier share a parcel; a note, another
    buyer, shop, address or carrier keeps a shipment apart."""
    spaced = Address("wang  fang", "13812345678", "zhejiang", "Hangzhou", "Xihu", "18 Longjing  Road")
    planned = parcels_of("MAIN-20261201-1030", FIRST, [
        waiting("s1", "o-1"), waiting("s2", "o-2", address=spaced), waiting("s3", "o-3", notes="gift wrap"),
        waiting("s4", "o-4", buyer="buyer-88"), waiting("s5", "o-5", address=WORK),
        waiting("s6", "o-6", carrier="zto"), waiting("s7", "o-7", shop="jd-store"),
    ])  # fmt: skip
    groups = sorted(tuple(s.shipment_id for s in p.shipments) for p in planned)
    assert groups == [("s1", "s2"), ("s3",), ("s4",), ("s5",), ("s6",), ("s7",)]
    assert [p.print_seq for p in planned] == list(range(1, 7))
    assert [p.parcel_id for p in planned][:2] == [
        parcel_id_for("MAIN-20261201-1030", 1),
        "MAIN-20261201-1030-00002",
    ]


def _merged_by_definition(shipments: list[WaitingShipment], slot: WaveSlot) -> list[list[str]]:
    """合单 as stated: shipments without a note that share shop, buyer, door and carrier form one parcel,
    placed by its first shipment (by order, then shipment id); parcels in print order."""
    groups: dict[tuple[object, ...], list[WaitingShipment]] = {}
    for s in sorted(shipments, key=lambda s: (s.order_id, s.shipment_id)):
        key = (
            ("alone", s.shipment_id)
            if s.notes.strip()
            else (s.shop_code, s.buyer_id, s.address.same_door(), s.carrier_code)
        )
        groups.setdefault(key, []).append(s)
    firsts = sorted(groups.values(), key=lambda g: (g[0].order_id, g[0].shipment_id))
    last = slot.last_of_day
    ordered = sorted(firsts, key=lambda g: (last and g[0].carrier_code != "sf", g[0].order_id))
    return [[s.shipment_id for s in g] for g in ordered]


@pytest.mark.parametrize("seed", range(8))
def test_merged_parcels_of_a_large_wave_follow_the_definition(seed: int) -> None:
    """Hundreds of shipments, few buyers, doors written with other case and spacing, split orders, notes,
    two carriers: the parcels and their print order are the definition's, in either kind of wave."""
    rng = random.Random(seed)
    doors = [
        HOME,
        WORK,
        Address(" WANG fang ", "13812345678", "Zhejiang", "hangzhou", "XIHU", "18  Longjing Road"),
    ]
    shipments = [
        waiting(
            f"s{n:04d}", f"o-{rng.randrange(300):03d}", buyer=f"b{rng.randrange(40)}", address=rng.choice(doors),
            carrier=rng.choice(["sf", "zto"]), notes=rng.choice(["", "", "", " ", "gift wrap"]),
            shop=rng.choice(["tmall-flagship", "jd-store"]),
        )
        for n in range(600)
    ]  # fmt: skip
    for slot in (FIRST, LAST):
        planned = parcels_of("W", slot, shipments)
        assert [[s.shipment_id for s in p.shipments] for p in planned] == _merged_by_definition(
            shipments, slot
        )
        assert [p.print_seq for p in planned] == list(range(1, len(planned) + 1))


def test_log_1_sf_parcels_print_first_in_the_last_wave_only() -> None:
    shipments = [
        waiting("s1", "o-1", carrier="zto", buyer="a"),
        waiting("s2", "o-2", carrier="sf", buyer="b"),
    ]
    assert [p.carrier_code for p in parcels_of("W", LAST, shipments)] == ["sf", "zto"]
    assert [p.carrier_code for p in parcels_of("W", FIRST, shipments)] == ["zto", "sf"]


def test_log_8_an_exchange_shipment_is_marked_kept_apart_and_every_bad_field_is_named() -> None:
    made = exchange_shipment(
        "EX-1", original_order_id="o-1", shop_code="tmall-flagship", address=HOME,
        lines=[("TEA", 1), ("TEA", 2)], carrier_code="", reason="wrong size", carriers=[SF, ZTO], at=AT,
    )  # fmt: skip
    assert (made.exchange, made.carrier_code, made.lines, made.order.channel) == (
        True,
        "sf",
        (("TEA", 3),),
        "exchange",
    )
    assert "换货" in made.order.service_note  # a note: never merged with the buyer's other parcels
    with pytest.raises(InvalidArgument) as bad:
        exchange_shipment(
            "EX-2", original_order_id="", shop_code=" ", address=Address("", "", "Zhejiang", "", "", ""),
            lines=[("", 0)], carrier_code="", reason="", carriers=[SF], at=AT,
        )  # fmt: skip
    fields = {v.field for v in bad.value.violations}
    assert fields == {
        "shop_code", "reason", "address.recipient", "address.phone", "address.city", "address.street",
        "lines[0].sku_code", "lines[0].quantity",
    }  # fmt: skip
    with pytest.raises(FailedPrecondition):
        exchange_shipment(
            "EX-3", original_order_id="", shop_code="s", address=replace_province(HOME, "Tibet"),
            lines=[("TEA", 1)], carrier_code="", reason="r", carriers=[SF], at=AT,
        )  # fmt: skip


def test_log_1_log_7_releases_become_rows_one_shipment_per_address_with_carrier_and_wave() -> None:
    """The consumer's reading of OrderReleased events: an ORD-7 split makes one row per address, numbered
    as ``shipments_of`` numbers them; each row has its carrier, or no carrier and why (on hold); lines
    follow their shipment; each shipment is placed in the wave of its release."""

    def address(province: str, street: str) -> orders_pb2.Address:
        return orders_pb2.Address(recipient="Wang Fang", phone="13812345678", province=province,
                                  city="Hangzhou", district="Xihu", street=street)  # fmt: skip

    line = events_pb2.OrderReleased.Line
    shipment = events_pb2.OrderReleased.Shipment
    at = datetime(2026, 12, 1, 2, 29, 59, tzinfo=UTC)  # 10:29:59 in Shanghai: the 10:30 wave
    split = events_pb2.OrderReleased(
        order_id="o-1", channel="tmall", channel_order_id="TM-1", shop_code="tmall-flagship", buyer_id="b-1",
        shipments=[shipment(address=address("Zhejiang", "18 Longjing Road"), lines=[line(sku_code="TEA", quantity=2)]),
                   shipment(address=address("Xinjiang", "1 Tianshan Road"),
                            lines=[line(sku_code="CUP", quantity=1), line(sku_code="TEA", quantity=1)])],
        service_note="call first", released_at=to_timestamp(at),
    )  # fmt: skip
    later = events_pb2.OrderReleased(
        order_id="o-2", channel="jd", channel_order_id="JD-2", shop_code="jd-store", buyer_id="b-2",
        shipments=[shipment(address=address("Tibet", "2 Barkhor Street"), lines=[line(sku_code="TEA", quantity=1)])],
        carrier_code="sf", released_at=to_timestamp(at + timedelta(seconds=1)),
    )  # fmt: skip
    new, slots = new_shipments([split, later], CarrierChoice([SF, ZTO]), WaveClock())
    assert new.shipment_id == [
        shipment_id_for("o-1", 1),
        shipment_id_for("o-1", 2),
        shipment_id_for("o-2", 1),
    ]
    assert new.shipment_no == [1, 2, 1]
    assert new.order_id == ["o-1", "o-1", "o-2"]
    assert new.province == ["Zhejiang", "Xinjiang", "Tibet"]
    assert new.street == ["18 Longjing Road", "1 Tianshan Road", "2 Barkhor Street"]
    assert new.channel_order_id == ["TM-1", "TM-1", "JD-2"]
    assert new.service_note == ["call first", "call first", ""]
    # SF is faster in Zhejiang; only ZTO covers Xinjiang; no one covers Tibet, so it waits on hold.
    assert new.carrier_code == ["sf", "zto", ""]
    assert new.status == ["waiting", "waiting", "on_hold"]
    assert new.hold_reason[:2] == ["", ""] and "Tibet" in new.hold_reason[2]
    assert list(zip(new.line_shipment_id, new.line_sku_code, new.line_quantity, strict=True)) == [
        (shipment_id_for("o-1", 1), "TEA", 2),
        (shipment_id_for("o-1", 2), "CUP", 1),
        (shipment_id_for("o-1", 2), "TEA", 1),
        (shipment_id_for("o-2", 1), "TEA", 1),
    ]
    assert new.released_at == [at, at, at + timedelta(seconds=1)]
    # 10:29:59 joins the 10:30 wave; one second later is 10:30:00, the 12:00 wave.
    assert slots == [slot_for(at), slot_for(at), slot_for(at + timedelta(seconds=1))]
    assert [s.cutoff for s in slots] == [time(10, 30), time(10, 30), time(12, 0)]
