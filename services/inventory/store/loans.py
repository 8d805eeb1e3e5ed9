"""Sample loans for photography (拍照样品, INV-8): out by a transfer document, due back in 7 days."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import FailedPrecondition, NotFound
from services.inventory.domain.reservations import Line
from services.inventory.domain.transfers import LOAN_PERIOD, LoanRequest, LoanStatus, extended_due
from services.inventory.store import catalogue, shipping_out
from services.inventory.store.tables import loans, skus

DOCUMENT = "loan"


@dataclass(frozen=True)
class Loan:
    loan_id: str
    sku_code: str
    style_number: str
    colour: str
    size: str
    warehouse_code: str
    quantity: int
    borrower: str
    status: LoanStatus
    lent_at: datetime
    due_at: datetime
    extended: bool
    returned_at: datetime | None


def _id(loan_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(loan_id)
    except ValueError:
        raise NotFound.for_field("loan_id", f"no loan {loan_id!r}", reason="LOAN_NOT_FOUND") from None


_COLUMNS = (loans, skus.c.style_number, skus.c.colour, skus.c.size)


def _loan(r: sa.Row[tuple[object, ...]]) -> Loan:
    m = r._mapping
    return Loan(
        str(m["loan_id"]),
        m["sku_code"],
        m["style_number"],
        m["colour"],
        m["size"],
        m["warehouse_code"],
        m["quantity"],
        m["borrower"],
        LoanStatus(m["status"]),
        m["lent_at"],
        m["due_at"],
        m["extended"],
        m["returned_at"],
    )


async def get(conn: AsyncConnection, loan_id: str, *, lock: bool = False) -> Loan:
    query = (
        sa.select(*_COLUMNS)
        .join(skus, skus.c.sku_code == loans.c.sku_code)
        .where(loans.c.loan_id == _id(loan_id))
    )
    if lock:
        query = query.with_for_update(of=loans)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound.for_field("loan_id", f"no loan {loan_id!r}", reason="LOAN_NOT_FOUND")
    return _loan(row)


async def lend(conn: AsyncConnection, wanted: LoanRequest, *, actor: str) -> Loan:
    await catalogue.get_sku(conn, wanted.sku_code)
    await catalogue.warehouse_sellable(conn, wanted.warehouse_code)
    loan_id = uuid.uuid4()
    lent_at = (
        await conn.execute(
            loans.insert()
            .values(
                loan_id=loan_id,
                sku_code=wanted.sku_code,
                warehouse_code=wanted.warehouse_code,
                quantity=wanted.quantity,
                borrower=wanted.borrower,
                status=LoanStatus.OUT.value,
                lent_by=actor,
                due_at=sa.func.now() + LOAN_PERIOD,
            )
            .returning(loans.c.lent_at)
        )
    ).scalar_one()
    await shipping_out.take_out(
        conn,
        document_type=DOCUMENT,
        document_id=str(loan_id),
        warehouse_code=wanted.warehouse_code,
        lines=(Line(wanted.sku_code, wanted.quantity),),
        actor=actor,
        note=f"sample loan to {wanted.borrower} on {lent_at.date().isoformat()}",
        quantity_field="quantity",
    )
    return await get(conn, str(loan_id))


async def extend(conn: AsyncConnection, loan_id: str) -> Loan:
    loan = await get(conn, loan_id, lock=True)
    if loan.status is not LoanStatus.OUT:
        raise FailedPrecondition.for_field("loan_id", "the samples are already back", reason="LOAN_RETURNED")
    await conn.execute(
        loans.update()
        .where(loans.c.loan_id == _id(loan_id))
        .values(due_at=extended_due(loan.due_at, loan.extended), extended=True)
    )
    return await get(conn, loan_id)


async def give_back(conn: AsyncConnection, loan_id: str, *, actor: str) -> Loan:
    """The samples come back into the same lots; returning twice changes nothing."""
    loan = await get(conn, loan_id, lock=True)
    if loan.status is LoanStatus.RETURNED:
        return loan
    await shipping_out.bring_in(
        conn,
        document_type=DOCUMENT,
        document_id=loan.loan_id,
        warehouse_code=loan.warehouse_code,
        actor=actor,
        note=f"sample loan back from {loan.borrower}",
    )
    await conn.execute(
        loans.update()
        .where(loans.c.loan_id == _id(loan_id))
        .values(status=LoanStatus.RETURNED.value, returned_by=actor, returned_at=sa.func.now())
    )
    return await get(conn, loan_id)


async def out_on_loan(conn: AsyncConnection, *, overdue_at: datetime | None = None) -> list[Loan]:
    """Loans not yet back, oldest due first; with ``overdue_at``, only those past due then."""
    query = (
        sa.select(*_COLUMNS)
        .join(skus, skus.c.sku_code == loans.c.sku_code)
        .where(loans.c.status == LoanStatus.OUT.value)
        .order_by(loans.c.due_at)
    )
    if overdue_at is not None:
        query = query.where(loans.c.due_at < overdue_at)
    return [_loan(r) for r in (await conn.execute(query)).all()]
