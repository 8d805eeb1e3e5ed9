"""Printable documents of waves and parcels (LOG-2, LOG-5), served as PDF and CSV.

The data is read from the store, turned into the plain values of ``services.logistics.documents`` and
rendered there; the answer is a ``google.api.HttpBody``, which the gateway sends as the document's bytes
with its Content-Type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.api import httpbody_pb2
from shop.logistics.v1 import logistics_pb2 as pb
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import Database
from libs.errors import FailedPrecondition, InvalidArgument, NotFound
from libs.telemetry import set_attributes
from services.logistics import documents as doc
from services.logistics.api.pick_rows import order_ids, picked_parcels
from services.logistics.domain.shipments import Address, ParcelStatus
from services.logistics.store import carriers, parcels, pick_list, waves
from services.logistics.store.parcels import StoredParcel
from services.logistics.store.pick_list import PickRow, SortRow
from services.logistics.store.waves import Wave, WaveStatus

WAVE_KINDS = ("pick-list", "sort-list", "labels", "packing-slips")
PARCEL_KINDS = ("label", "packing-slip")
MANIFEST_FORMATS = ("pdf", "csv")
PDF = "application/pdf"
#: The charset is named although the file starts with a byte-order mark: not every client looks for one.
CSV = "text/csv; charset=utf-8"
#: Where the pick list sends a picker for stock received but not put away in a bin yet (INV-6).
UNBINNED = "未上架 not put away"

#: reportlab keeps module-level state and does not promise to be thread-safe, so one thread renders every
#: document, one at a time; it is off the event loop, so a wave of labels does not hold up other calls.
_RENDERER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents")

_Value = TypeVar("_Value")


def choice(value: str, allowed: Sequence[str], field: str) -> str:
    """``value`` as one of ``allowed``, trimmed and lower-cased; InvalidArgument naming ``field`` and the
    allowed values otherwise."""
    chosen = value.strip().lower()
    if chosen not in allowed:
        raise InvalidArgument.for_field(field, f"must be one of {', '.join(allowed)}, got {value!r}")
    return chosen


def address_of(parcel: StoredParcel) -> Address:
    """Where the parcel goes: its shipments share one door, since only those are merged (合单)."""
    return (parcel.shipping or parcel.shipments)[0].address


def printed_address(a: Address) -> doc.Address:
    """A stored address as a document prints it."""
    return doc.Address(a.recipient, a.phone, a.province, a.city, a.district, a.street)


def pick_list_of(
    wave: Wave, rows: Sequence[PickRow], sorting: Sequence[SortRow], printed_at: datetime
) -> doc.PickList:
    """The printed pick list: the same walk as ``GetPickList`` answers."""
    return doc.PickList(
        wave_id=wave.wave_id,
        warehouse_code=wave.warehouse_code,
        cutoff=wave.cutoff_at,
        printed_at=printed_at,
        orders=len({order_id for r in sorting for order_id in r.order_ids}),
        parcels=len(sorting),
        lines=tuple(
            doc.PickListLine(r.bin_code or UNBINNED, r.sku_code, r.lot_label, r.quantity) for r in rows
        ),
    )


def sort_list_of(wave: Wave, sorting: Sequence[SortRow], printed_at: datetime) -> doc.SortList:
    """The printed sort list: the same parcels as ``GetPickList``'s, in print order."""
    return doc.SortList(
        wave_id=wave.wave_id,
        printed_at=printed_at,
        parcels=tuple(doc.SortParcel(r.parcel_id, r.order_ids, r.carrier_code, r.lines) for r in sorting),
    )


def label_of(parcel: StoredParcel, carrier_names: dict[str, str]) -> doc.Label:
    """A parcel's shipping label; its barcode is the tracking number once dispatched, else the parcel id."""
    return doc.Label(
        parcel_id=parcel.parcel_id,
        carrier_code=parcel.carrier_code,
        carrier_name=carrier_names.get(parcel.carrier_code, parcel.carrier_code),
        tracking_number=parcel.tracking_number,
        shop_code=parcel.shop_code,
        address=printed_address(address_of(parcel)),
        # The store keeps 0 until the scale weighs the parcel (LOG-4); the label then shows no weight.
        weight_grams=parcel.weight_grams or None,
    )


def slip_of(parcel: StoredParcel) -> doc.PackingSlip:
    """A parcel's packing slip: its orders with their channel order ids, its lines and the notes."""
    channel_ids = {s.order_id: s.channel_order_id for s in parcel.shipping}
    notes = dict.fromkeys(s.notes.strip() for s in parcel.shipping if s.notes.strip())
    return doc.PackingSlip(
        parcel_id=parcel.parcel_id,
        shop_code=parcel.shop_code,
        orders=tuple((order_id, channel_ids[order_id]) for order_id in order_ids(parcel)),
        # The warehouse knows items by SKU only; the slip leaves the name empty rather than guess it.
        lines=tuple(doc.SlipLine(sku, "", quantity) for sku, quantity in sorted(parcel.expected().items())),
        notes=" / ".join(notes),
    )


def manifest_of(
    wave: Wave, carrier_code: str, carrier_name: str, handed: Sequence[StoredParcel], printed_at: datetime
) -> doc.Manifest:
    """One carrier's hand-over manifest of ``handed``, its dispatched parcels, in print order."""
    return doc.Manifest(
        wave_id=wave.wave_id,
        carrier_code=carrier_code,
        carrier_name=carrier_name,
        printed_at=printed_at,
        parcels=tuple(
            doc.ManifestParcel(
                parcel_id=p.parcel_id,
                tracking_number=p.tracking_number,
                province=address_of(p).province,
                city=address_of(p).city,
                weight_grams=p.weight_grams,
            )
            for p in handed
        ),
    )


async def _carrier_names(conn: AsyncConnection) -> dict[str, str]:
    return {carrier.code: carrier.name for carrier, _ in await carriers.all_carriers(conn)}


async def _render(render: Callable[[_Value], bytes], value: _Value) -> bytes:
    return await asyncio.get_running_loop().run_in_executor(_RENDERER, render, value)


def _body(content_type: str, data: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=content_type, data=data)


def _require_parcels(wave: Wave, packed: Sequence[StoredParcel]) -> None:
    if not packed:
        raise FailedPrecondition.for_field(
            "wave_id", f"wave {wave.wave_id} has no parcels to print", reason="NOTHING_TO_PRINT"
        )


class DocumentsApi:
    """The wave and parcel documents and the carriers' manifests of ``LogisticsService``."""

    db: Database

    async def GetWaveDocument(
        self, request: pb.GetWaveDocumentRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        """A closed wave's pick list, sort list, labels or packing slips as one PDF (LOG-2)."""
        kind = choice(request.kind, WAVE_KINDS, "kind")
        wave_id = request.wave_id.strip()
        set_attributes(wave_id=wave_id)
        async with self.db.connection() as conn:
            wave = await waves.get(conn, wave_id)
            waves.require_closed(wave)
            lists = kind in ("pick-list", "sort-list")
            sorting = await pick_list.sort_list(conn, wave.wave_id) if lists else []
            rows = await pick_list.walk(conn, wave.wave_id) if kind == "pick-list" else []
            packed = [] if lists else picked_parcels(await parcels.of_wave(conn, wave.wave_id))
            names = await _carrier_names(conn) if kind == "labels" else {}
        printed_at = datetime.now(UTC)
        if kind == "pick-list":
            return _body(PDF, await _render(doc.pick_list_pdf, pick_list_of(wave, rows, sorting, printed_at)))
        if kind == "sort-list":
            return _body(PDF, await _render(doc.sort_list_pdf, sort_list_of(wave, sorting, printed_at)))
        # A wave whose every order was withdrawn or held has nothing to stick on a parcel.
        _require_parcels(wave, packed)
        if kind == "labels":
            return _body(PDF, await _render(doc.labels_pdf, [label_of(p, names) for p in packed]))
        return _body(PDF, await _render(doc.packing_slips_pdf, [slip_of(p) for p in packed]))

    async def GetParcelDocument(
        self, request: pb.GetParcelDocumentRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        """One parcel's label or packing slip reprinted as PDF (LOG-2, LOG-5)."""
        kind = choice(request.kind, PARCEL_KINDS, "kind")
        parcel_id = request.parcel_id.strip()
        set_attributes(parcel_id=parcel_id)
        async with self.db.connection() as conn:
            parcel = await parcels.get(conn, parcel_id)
            wave = await waves.get(conn, parcel.wave_id)
            names = await _carrier_names(conn) if kind == "label" else {}
        if parcel.status is ParcelStatus.WITHDRAWN:
            raise FailedPrecondition.for_field(
                "parcel_id", f"parcel {parcel.parcel_id} is withdrawn: nothing ships in it",
                reason="PARCEL_STATE",
            )  # fmt: skip
        # A closing wave may still take a shipment out of the parcel: its papers print once it is closed.
        if wave.status is not WaveStatus.CLOSED:
            raise FailedPrecondition.for_field(
                "parcel_id", f"its wave {wave.wave_id} is {wave.status.value}: it prints when the wave closes",
                reason="WAVE_NOT_CLOSED",
            )  # fmt: skip
        if kind == "label":
            return _body(PDF, await _render(doc.labels_pdf, [label_of(parcel, names)]))
        return _body(PDF, await _render(doc.packing_slips_pdf, [slip_of(parcel)]))

    async def GetCarrierManifest(
        self, request: pb.GetCarrierManifestRequest, context: Any
    ) -> httpbody_pb2.HttpBody:
        """A carrier's hand-over manifest of a wave's dispatched parcels, as PDF or CSV (LOG-5)."""
        form = choice(request.format.strip() or "pdf", MANIFEST_FORMATS, "format")
        carrier_code = request.carrier_code.strip()
        if not carrier_code:
            raise InvalidArgument.for_field("carrier_code", "is required, e.g. sf")
        wave_id = request.wave_id.strip()
        set_attributes(wave_id=wave_id)
        async with self.db.connection() as conn:
            wave = await waves.get(conn, wave_id)
            waves.require_closed(wave)
            found = await parcels.of_wave(conn, wave.wave_id)
            names = await _carrier_names(conn)
        if carrier_code not in names:
            raise NotFound.for_field("carrier_code", f"no carrier {carrier_code!r}")
        handed = [p for p in found if p.carrier_code == carrier_code and p.status is ParcelStatus.DISPATCHED]
        if not handed:
            raise FailedPrecondition.for_field(
                "carrier_code", f"no parcel of wave {wave.wave_id} is dispatched with {carrier_code} yet",
                reason="NOTHING_DISPATCHED",
            )  # fmt: skip
        manifest = manifest_of(wave, carrier_code, names[carrier_code], handed, datetime.now(UTC))
        if form == "csv":
            return _body(CSV, await _render(doc.manifest_csv, manifest))
        return _body(PDF, await _render(doc.manifest_pdf, manifest))
