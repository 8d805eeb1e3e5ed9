"""Amendments (ORD-7) and refunds (ORD-4, ORD-9) recorded on orders."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import FailedPrecondition
from services.orders.domain.amendments import Invoice, Shipment
from services.orders.domain.intake import Address
from services.orders.store.orders import parse_id
from services.orders.store.tables import (
    order_amendments,
    order_shipment_lines,
    order_shipments,
    orders,
    refunds,
)


@dataclass(frozen=True)
class Amendments:
    carrier_code: str
    invoice: Invoice | None
    shipments: tuple[Shipment, ...]


async def _upsert(conn: AsyncConnection, order_id: str, **values: object) -> None:
    await conn.execute(
        insert(order_amendments)
        .values(order_id=parse_id(order_id), **values)
        .on_conflict_do_update(index_elements=[order_amendments.c.order_id], set_=values)
    )


async def set_carrier(conn: AsyncConnection, order_id: str, carrier_code: str) -> None:
    await _upsert(conn, order_id, carrier_code=carrier_code)


async def request_invoice(conn: AsyncConnection, order_id: str, invoice: Invoice) -> None:
    await _upsert(
        conn,
        order_id,
        invoice_title=invoice.title,
        invoice_tax_id=invoice.tax_id,
        invoice_requested_at=sa.func.now(),
    )


async def set_address(conn: AsyncConnection, order_id: str, address: Address) -> None:
    await conn.execute(
        orders.update()
        .where(orders.c.order_id == parse_id(order_id))
        .values(
            recipient=address.recipient,
            phone=address.phone,
            province=address.province,
            city=address.city,
            district=address.district,
            street=address.street,
            updated_at=sa.func.now(),
        )
    )


async def set_shipments(conn: AsyncConnection, order_id: str, shipments: list[Shipment]) -> None:
    """Replaces the order's split (a later split supersedes an earlier one; the timeline keeps both)."""
    oid = parse_id(order_id)
    await conn.execute(order_shipment_lines.delete().where(order_shipment_lines.c.order_id == oid))
    await conn.execute(order_shipments.delete().where(order_shipments.c.order_id == oid))
    for no, shipment in enumerate(shipments, start=1):
        a = shipment.address
        await conn.execute(
            order_shipments.insert().values(
                order_id=oid, shipment_no=no, recipient=a.recipient, phone=a.phone, province=a.province,
                city=a.city, district=a.district, street=a.street,
            )
        )  # fmt: skip
        merged: dict[str, int] = {}
        for sku, quantity in shipment.lines:
            merged[sku] = merged.get(sku, 0) + quantity
        await conn.execute(
            order_shipment_lines.insert(),
            [
                {"order_id": oid, "shipment_no": no, "sku_code": sku, "quantity": q}
                for sku, q in sorted(merged.items())
            ],
        )


async def of(conn: AsyncConnection, order_id: str) -> Amendments:
    oid = parse_id(order_id)
    row = (await conn.execute(sa.select(order_amendments).where(order_amendments.c.order_id == oid))).first()
    heads = (
        await conn.execute(
            sa.select(order_shipments)
            .where(order_shipments.c.order_id == oid)
            .order_by(order_shipments.c.shipment_no)
        )
    ).all()
    shipments = []
    for h in heads:
        lines = (
            await conn.execute(
                sa.select(order_shipment_lines.c.sku_code, order_shipment_lines.c.quantity)
                .where(
                    order_shipment_lines.c.order_id == oid,
                    order_shipment_lines.c.shipment_no == h.shipment_no,
                )
                .order_by(order_shipment_lines.c.sku_code)
            )
        ).all()
        shipments.append(
            Shipment(
                Address(h.recipient, h.phone, h.province, h.city, h.district, h.street),
                tuple((sku, q) for sku, q in lines),
            )
        )
    invoice = (
        Invoice(row.invoice_title, row.invoice_tax_id)
        if row is not None and row.invoice_requested_at
        else None
    )
    return Amendments(row.carrier_code if row is not None else "", invoice, tuple(shipments))


async def record_refund(
    conn: AsyncConnection, order_id: str, amount_fen: int, reason: str, *, actor: str
) -> str:
    """Adds a refund; all refunds together never exceed what was paid."""
    updated = await conn.execute(
        orders.update()
        .where(
            orders.c.order_id == parse_id(order_id), orders.c.refunded_fen + amount_fen <= orders.c.paid_fen
        )
        .values(refunded_fen=orders.c.refunded_fen + amount_fen, updated_at=sa.func.now())
        .returning(orders.c.refunded_fen)
    )
    if updated.first() is None:
        raise FailedPrecondition.for_field(
            "amount", "refunds would exceed what the buyer paid", reason="REFUND_EXCEEDS_PAYMENT"
        )
    refund_id = uuid.uuid4()
    await conn.execute(
        refunds.insert().values(
            refund_id=refund_id,
            order_id=parse_id(order_id),
            amount_fen=amount_fen,
            reason=reason,
            refunded_by=actor,
        )
    )
    return str(refund_id)
