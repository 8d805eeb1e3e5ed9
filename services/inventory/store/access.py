"""Warehouse access approvals, and the check every stock-moving call makes (INV-18)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import PermissionDenied
from libs.identity import Identity
from services.inventory.domain.access import STOCK_KEEPER, AccessGrant
from services.inventory.store.tables import warehouse_access


async def record(conn: AsyncConnection, approval: AccessGrant) -> str:
    grant_id = uuid.uuid4()
    await conn.execute(
        warehouse_access.insert().values(
            grant_id=grant_id,
            user_id=approval.user_id,
            purpose=approval.purpose.value,
            granted_by=approval.granted_by,
            granted_by_role=approval.granted_by_role,
            valid_until=approval.valid_until,
        )
    )
    return str(grant_id)


async def require_stock_mover(conn: AsyncConnection, caller: Identity) -> None:
    """A stock keeper, or a person with an approval valid now; PermissionDenied otherwise."""
    if STOCK_KEEPER in caller.roles:
        return
    approved = (
        await conn.execute(
            sa.select(warehouse_access.c.grant_id)
            .where(
                warehouse_access.c.user_id == caller.subject, warehouse_access.c.valid_until > sa.func.now()
            )
            .limit(1)
        )
    ).first()
    if approved is None:
        raise PermissionDenied.for_field(
            "role",
            "only stock keepers move stock; anyone else needs an approved warehouse access (INV-18)",
            reason="ROLE_REQUIRED",
        )
