"""Idempotency by the caller's ``request_id``: a retry returns the first result, exactly once.

The key is claimed by INSERT in the same transaction as the change. A concurrent duplicate blocks on the
key's unique index until the first transaction ends: if it committed, the duplicate returns the stored
response; if it rolled back (a refused request stores nothing), the duplicate runs afresh.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.db import Database
from libs.errors import AlreadyExists, InvalidArgument

M = TypeVar("M", bound=Message)

MAX_REQUEST_ID_LENGTH = 128


def request_fingerprint(request: Message) -> str:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def check_request_id(request_id: str) -> None:
    if not request_id.strip():
        raise InvalidArgument.for_field("request_id", "is required (an idempotency key chosen by the caller)")
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise InvalidArgument.for_field("request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters")


async def once(
    conn: AsyncConnection,
    table: sa.Table,
    *,
    operation: str,
    request_id: str,
    request: Message,
    response_type: type[M],
    perform: Callable[[], Awaitable[M]],
) -> M:
    """Runs ``perform`` once per (operation, request_id) inside the caller's transaction ``conn``.

    The same id with a different request is refused with ALREADY_EXISTS naming ``request_id``.
    """
    check_request_id(request_id)
    fingerprint = request_fingerprint(request)
    claimed = await conn.execute(
        insert(table)
        .values(operation=operation, request_id=request_id, request_hash=fingerprint)
        .on_conflict_do_nothing()
        .returning(table.c.request_id)
    )
    if claimed.first() is not None:
        response = await perform()
        await conn.execute(
            table.update()
            .where(table.c.operation == operation, table.c.request_id == request_id)
            .values(response=response.SerializeToString(deterministic=True))
        )
        return response
    row = (
        await conn.execute(
            sa.select(table.c.request_hash, table.c.response).where(
                table.c.operation == operation, table.c.request_id == request_id
            )
        )
    ).one()
    if row.request_hash != fingerprint:
        raise AlreadyExists.for_field(
            "request_id", "was already used for a different request", reason="IDEMPOTENCY_KEY_REUSED"
        )
    return response_type.FromString(row.response)


async def transact_once(
    database: Database,
    table: sa.Table,
    *,
    operation: str,
    request_id: str,
    request: Message,
    response_type: type[M],
    perform: Callable[[AsyncConnection], Awaitable[M]],
) -> M:
    """``once`` in a transaction of its own: the usual shape of a mutating RPC."""
    check_request_id(request_id)
    async with database.transaction() as conn:
        return await once(
            conn,
            table,
            operation=operation,
            request_id=request_id,
            request=request,
            response_type=response_type,
            perform=lambda: perform(conn),
        )
