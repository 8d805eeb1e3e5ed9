"""Shipments of released orders and the parcels a closing wave packs them into (LOG-1, LOG-2, 合单).

An order released to the warehouse becomes one shipment, or one per address when it was split (ORD-7),
each with its carrier: the order's choice when it covers the province, else the fastest, then cheapest
(LOG-7). A shipment no carrier covers waits on hold with the reason instead of being lost.

When a wave closes, shipments of one buyer, shop, address and carrier become one parcel — one label, one
weighing, one freight charge — as Chinese multi-platform ERPs do by default; a buyer's message or a
service note keeps a shipment in its own parcel, since a person asked for something about that order.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from operator import attrgetter

from libs.errors import Violations
from services.logistics.domain.carriers import Carrier, CarrierChoice, choose_carrier
from services.logistics.domain.waves import WaveSlot, print_order

#: Shipment ids follow from the order and the shipment's number, so a release applied twice creates nothing.
SHIPMENT_ID_NAMESPACE = uuid.UUID("6f1d2a52-2f0e-4c55-9a61-3c0b0d7b9e21")
_SHIPMENT_ID_PREFIX = SHIPMENT_ID_NAMESPACE.bytes


class ShipmentStatus(enum.Enum):
    WAITING = "waiting"
    IN_PARCEL = "in_parcel"
    WITHDRAWN = "withdrawn"
    ON_HOLD = "on_hold"


class ParcelStatus(enum.Enum):
    PICKING = "picking"
    VERIFYING = "verifying"
    VERIFIED = "verified"
    PACKED = "packed"
    DISPATCHED = "dispatched"
    WITHDRAWN = "withdrawn"


#: A parcel in these states has left the bench untouched: its order may still be withdrawn (ORD-5).
WITHDRAWABLE = frozenset({ParcelStatus.PICKING, ParcelStatus.VERIFYING, ParcelStatus.VERIFIED})


@dataclass(frozen=True)
class Address:
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    street: str

    def same_door(self) -> tuple[str, ...]:
        """The address as compared for merging: case and spacing do not make two doors."""
        return tuple(" ".join(part.split()).casefold() for part in (
            self.recipient, self.phone, self.province, self.city, self.district, self.street
        ))  # fmt: skip


@dataclass(frozen=True)
class ReleasedShipment:
    address: Address
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class ReleasedOrder:
    """An order as the orders service released it (its OrderReleased event)."""

    order_id: str
    channel: str
    channel_order_id: str
    shop_code: str
    buyer_id: str
    shipments: tuple[ReleasedShipment, ...]
    carrier_code: str
    buyer_message: str
    service_note: str
    released_at: datetime


@dataclass(frozen=True)
class NewShipment:
    """A shipment to create: its number in the order, its carrier, or why it waits on hold."""

    shipment_id: str
    order: ReleasedOrder
    shipment_no: int
    address: Address
    lines: tuple[tuple[str, int], ...]
    carrier_code: str
    hold_reason: str
    exchange: bool = False


def new_status(hold_reason: str) -> ShipmentStatus:
    """A new shipment waits for its wave, or on hold when there is a reason to (no carrier delivers)."""
    return ShipmentStatus.ON_HOLD if hold_reason else ShipmentStatus.WAITING


def shipment_id_for(order_id: str, shipment_no: int) -> str:
    """The shipment's id, the same however often the release is applied: the name-based (version 5) UUID
    of ``<order id>/<number>``, written out by hand, as ``uuid.uuid5`` costs five times more."""
    digest = bytearray(hashlib.sha1(_SHIPMENT_ID_PREFIX + f"{order_id}/{shipment_no}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def shipments_of(order: ReleasedOrder, carriers: Sequence[Carrier] | CarrierChoice) -> list[NewShipment]:
    """The shipments a released order ships in, each with its carrier (LOG-7), numbered from 1. A batch of
    orders shares one ``CarrierChoice``, which makes each choice once."""
    choice = carriers if isinstance(carriers, CarrierChoice) else CarrierChoice(carriers)
    made = []
    for no, s in enumerate(order.shipments, start=1):
        carrier, reason = choice.of(s.address.province, order.carrier_code)
        made.append(
            NewShipment(shipment_id_for(order.order_id, no), order, no, s.address, s.lines, carrier, reason)
        )
    return made


#: The channel an exchange shipment is filed under; its channel order id is the original order's id.
EXCHANGE_CHANNEL = "exchange"
MAX_EXCHANGE_LINES = 50


def exchange_shipment(
    exchange_id: str,
    *,
    original_order_id: str,
    shop_code: str,
    address: Address,
    lines: Sequence[tuple[str, int]],
    carrier_code: str,
    reason: str,
    carriers: Sequence[Carrier],
    at: datetime,
) -> NewShipment:
    """LOG-8: the replacement goods of an exchange (换货) as a shipment marked exchange. Every bad field is
    named; the carrier is chosen as for any shipment, but one that cannot deliver is refused at once
    (after-sales is asking now and can choose another) rather than set aside."""
    v = Violations()
    v.require(bool(shop_code.strip()), "shop_code", "is required")
    v.require(bool(reason.strip()), "reason", "say why the goods are exchanged")
    for name in ("recipient", "phone", "province", "city", "street"):
        v.require(bool(getattr(address, name).strip()), f"address.{name}", "is required")
    v.require(1 <= len(lines) <= MAX_EXCHANGE_LINES, "lines", f"list 1 to {MAX_EXCHANGE_LINES} lines")
    merged: dict[str, int] = {}
    for i, (sku, quantity) in enumerate(lines):
        v.require(bool(sku.strip()), f"lines[{i}].sku_code", "is required")
        v.require(quantity >= 1, f"lines[{i}].quantity", "must be at least 1")
        merged[sku.strip()] = merged.get(sku.strip(), 0) + max(quantity, 0)
    v.raise_if_any()
    carrier = choose_carrier(carriers, address.province, carrier_code.strip() or None)
    order = ReleasedOrder(
        order_id=exchange_id,
        channel=EXCHANGE_CHANNEL,
        channel_order_id=original_order_id.strip(),
        shop_code=shop_code.strip(),
        buyer_id="",
        shipments=(ReleasedShipment(address, tuple(sorted(merged.items()))),),
        carrier_code=carrier.code,
        buyer_message="",
        # The note keeps it out of merged parcels and prints on its packing slip.
        service_note=f"换货 exchange: {reason.strip()[:400]}",
        released_at=at,
    )
    (shipment,) = shipments_of(order, carriers)
    return replace(shipment, exchange=True)


@dataclass(frozen=True)
class WaitingShipment:
    """A shipment in a closing wave, as merging sees it."""

    shipment_id: str
    order_id: str
    shop_code: str
    buyer_id: str
    address: Address
    carrier_code: str
    notes: str


@dataclass(frozen=True)
class ShipmentToPick:
    """A shipment of a closing wave as the inventory service is asked for its lots: its order and units."""

    shipment_id: str
    order_id: str
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class PlannedParcel:
    """A parcel of a closing wave: its place in print order and its shipments."""

    parcel_id: str
    print_seq: int
    carrier_code: str
    shipments: tuple[WaitingShipment, ...]

    @property
    def order_id(self) -> str:
        """The first order in it, which places it in print order."""
        return self.shipments[0].order_id

    @property
    def merged(self) -> bool:
        return len(self.shipments) > 1


@dataclass(frozen=True)
class _Group:
    order_id: str
    carrier_code: str
    shipments: tuple[WaitingShipment, ...]


def parcel_id_for(wave_id: str, print_seq: int) -> str:
    """A parcel's id: its wave and place in print order, short enough for a label's barcode."""
    return f"{wave_id}-{print_seq:05d}"


def parcels_of(wave_id: str, slot: WaveSlot, shipments: Sequence[WaitingShipment]) -> list[PlannedParcel]:
    """The parcels a closing wave packs its shipments into (合单), in print order (LOG-1: SF Express first
    in the day's last wave), numbered from 1."""
    groups: list[list[WaitingShipment]] = []  # a noted shipment is a parcel of its own
    # Shipments may share a parcel only with the same shop, buyer and carrier; only among those is the
    # address compared, which is the costly part (most buyers have one order in a wave).
    same_buyer: dict[tuple[str, str, str], list[WaitingShipment]] = {}
    for s in sorted(shipments, key=attrgetter("order_id", "shipment_id")):
        if s.notes.strip():
            groups.append([s])
        else:
            same_buyer.setdefault((s.shop_code, s.buyer_id, s.carrier_code), []).append(s)
    for members in same_buyer.values():
        if len(members) == 1:
            groups.append(members)
            continue
        by_door: dict[tuple[str, ...], list[WaitingShipment]] = {}
        for s in members:
            by_door.setdefault(s.address.same_door(), []).append(s)
        groups.extend(by_door.values())
    # Each group in the place of its first shipment, as the stable print order expects.
    groups.sort(key=lambda members: (members[0].order_id, members[0].shipment_id))
    ordered = print_order(
        [_Group(members[0].order_id, members[0].carrier_code, tuple(members)) for members in groups], slot
    )
    return [
        PlannedParcel(parcel_id_for(wave_id, seq), seq, g.carrier_code, g.shipments)
        for seq, g in enumerate(ordered, start=1)
    ]
