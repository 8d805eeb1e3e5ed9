"""What a closed wave's pickers work from (LOG-2): the walk through the bins and the sort into parcels.

Shared by the pick list the API answers as JSON and the one printed as PDF, so the paper in a picker's
hand and the screen in the office never disagree. Pure: the caller reads the parcels from the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.logistics.domain.shipments import ParcelStatus, ShipmentStatus
from services.logistics.store.parcels import StoredParcel


@dataclass(frozen=True)
class PickRow:
    """One stop of the walk: ``quantity`` units of ``sku_code`` from lot ``lot_label`` in ``bin_code``."""

    bin_code: str
    sku_code: str
    lot_label: str
    quantity: int


@dataclass(frozen=True)
class SortRow:
    """One parcel of the sort list: its orders, its carrier and its ``(sku_code, quantity)`` lines."""

    print_seq: int
    parcel_id: str
    order_ids: tuple[str, ...]
    carrier_code: str
    lines: tuple[tuple[str, int], ...]


def picked_parcels(found: Iterable[StoredParcel]) -> list[StoredParcel]:
    """The parcels that are still picked, in the order given (print order): a withdrawn one is not."""
    return [p for p in found if p.status is not ParcelStatus.WITHDRAWN]


def order_ids(parcel: StoredParcel) -> tuple[str, ...]:
    """The orders a parcel still ships, by id."""
    return tuple(sorted({s.order_id for s in parcel.shipping}))


def walk(packed: Sequence[StoredParcel]) -> list[PickRow]:
    """The lots to take for ``packed``, one row per bin, SKU and lot, in walking order.

    Only shipments still in their parcel count: a withdrawn order's lots are no longer to be picked.
    """
    units: dict[tuple[str, str, str], int] = {}
    for parcel in packed:
        for shipment in parcel.shipping:
            if shipment.status is not ShipmentStatus.IN_PARCEL:
                continue
            for lot in shipment.picked:
                key = (lot.bin_code, lot.sku_code, lot.lot_label)
                units[key] = units.get(key, 0) + lot.quantity
    # Bin codes are laid out along the walking path (aisle-rack-level), so their order is the walk.
    return [PickRow(b, sku, label, quantity) for (b, sku, label), quantity in sorted(units.items())]


def sku_totals(rows: Iterable[PickRow]) -> list[tuple[str, int]]:
    """Units per SKU over every bin and lot of the walk, by SKU code."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.sku_code] = totals.get(row.sku_code, 0) + row.quantity
    return sorted(totals.items())


def sort_rows(packed: Sequence[StoredParcel]) -> list[SortRow]:
    """The sort list of ``packed``: each parcel with its orders and the units it must hold, in the order
    given (print order)."""
    return [
        SortRow(
            print_seq=p.print_seq,
            parcel_id=p.parcel_id,
            order_ids=order_ids(p),
            carrier_code=p.carrier_code,
            lines=tuple(sorted(p.expected().items())),
        )
        for p in packed
    ]
