"""Idempotency claims by the caller's ``request_id``: a retry returns the first result, exactly once.

The key is claimed by INSERT in the same transaction as the change (``libs.policy`` opens it for every
mutating RPC). A concurrent duplicate blocks on the key's unique index until the first transaction ends:
if it committed, the duplicate returns the stored response; if it rolled back (a refused request stores
nothing), the duplicate runs afresh.
"""

from __future__ import annotations

import hashlib
from typing import TypeVar

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.errors import AlreadyExists, InvalidArgument
from libs.upsert import insert

M = TypeVar("M", bound=Message)

MAX_REQUEST_ID_LENGTH = 128


def request_fingerprint(request: Message) -> str:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()


def check_request_id(request_id: str) -> None:
    if not request_id.strip():
        raise InvalidArgument.for_field("request_id", "must not be blank: leave it empty or send a key")
    if len(request_id) > MAX_REQUEST_ID_LENGTH:
        raise InvalidArgument.for_field("request_id", f"must be at most {MAX_REQUEST_ID_LENGTH} characters")


async def claim(
    conn: AsyncConnection,
    table: sa.Table,
    operation: str,
    request_id: str,
    request: Message,
    response_type: type[M],
    *,
    resumed: bool = False,
) -> M | None:
    """Claims ``(operation, request_id)`` in ``conn``'s transaction.

    None: the caller runs the request and then calls ``store_answer``. A message: the first answer to the
    same request, to be returned as it is. The same id with a different request is refused with
    ALREADY_EXISTS naming ``request_id``. ``resumed``: a claim whose answer is not stored yet (a saga that
    crashed or is still running) is run again rather than waited for.
    """
    fingerprint = request_fingerprint(request)
    claimed = await conn.execute(
        insert(table)
        .values(operation=operation, request_id=request_id, request_hash=fingerprint)
        .on_conflict_do_nothing()
        .returning(table.c.request_id)
    )
    if claimed.first() is not None:
        return None
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
    if row.response is None:
        # Only a resumable claim commits before its answer; any other is answered in the same commit.
        assert resumed, f"{operation}: a claim without an answer"
        return None
    return response_type.FromString(row.response)


async def store_answer(
    conn: AsyncConnection, table: sa.Table, operation: str, request_id: str, answer: Message
) -> None:
    """Stores the answer a retry of ``(operation, request_id)`` gets."""
    await conn.execute(
        table.update()
        .where(table.c.operation == operation, table.c.request_id == request_id)
        .values(response=answer.SerializeToString(deterministic=True))
    )
