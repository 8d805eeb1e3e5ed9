"""Which of a closed wave's parcels are still picked, and the orders each ships: what the labels and packing
slips are printed for (LOG-2). The pick list and sort list themselves are read set-based
(``store.pick_list``)."""

from __future__ import annotations

from collections.abc import Iterable

from services.logistics.domain.shipments import ParcelStatus
from services.logistics.store.parcels import StoredParcel


def picked_parcels(found: Iterable[StoredParcel]) -> list[StoredParcel]:
    """The parcels that are still picked, in the order given (print order): a withdrawn one is not."""
    return [p for p in found if p.status is not ParcelStatus.WITHDRAWN]


def order_ids(parcel: StoredParcel) -> tuple[str, ...]:
    """The orders a parcel still ships, by id."""
    return tuple(sorted({s.order_id for s in parcel.shipping}))
