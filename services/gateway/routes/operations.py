"""Operations routes for SREs: the dead letters of every service's event consumers (needs sre).

Listing fans out to every service at once (each keeps the letters of its own consumers); a replay goes to
the service whose consumer gave up, which applies the event through that consumer, at most once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from shop.ops.v1 import dead_letters_pb2 as pb
from shop.ops.v1 import dead_letters_pb2_grpc

from libs.errors import DomainError, InvalidArgument
from libs.grpc_client import call
from libs.identity import require_role
from libs.timestamps import from_timestamp as utc
from services.gateway.auth import Caller

router = APIRouter(prefix="/v1/ops", tags=["operations"])

ServiceName = Literal["inventory", "orders", "logistics", "returns", "payroll"]


class DeadLetterOut(BaseModel):
    service: ServiceName = Field(description="The service whose consumer gave up on the event.")
    sequence: int = Field(
        description="The letter's position in the dead-letter stream; names it for a replay."
    )
    event_id: str
    subject: str = Field(description="The subject the event was published on.")
    consumer: str = Field(description="The durable consumer that gave up.")
    event_type: str
    error: str = Field(description="The handler's last error.")
    attempts: int
    failed_at: datetime
    trace_id: str = Field(
        description="The trace of the flow that published the event (make trace TRACE=...)."
    )
    event: str = Field(description="The event, as JSON.")


class DeadLettersOut(BaseModel):
    dead_letters: list[DeadLetterOut] = Field(description="Oldest first, per service.")
    next_page_tokens: dict[str, str] = Field(
        description="Per service with more letters: pass it as page_token, with that service."
    )
    unreachable: dict[str, str] = Field(description="Services that did not answer, and why.")


class ReplayOut(BaseModel):
    dead_letter: DeadLetterOut
    applied: bool = Field(description="False when the consumer had applied the event already: nothing twice.")


def _letter(service: ServiceName, d: pb.DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        service=service, sequence=d.sequence, event_id=d.event_id, subject=d.subject, consumer=d.consumer,
        event_type=d.event_type, error=d.error, attempts=d.attempts, failed_at=utc(d.failed_at),
        trace_id=d.trace_id, event=d.event_json,
    )  # fmt: skip


def _stub(request: Request, service: str) -> dead_letters_pb2_grpc.DeadLetterServiceStub:
    return dead_letters_pb2_grpc.DeadLetterServiceStub(request.app.state.upstreams.channels[service])


@router.get("/dead-letters", response_model=DeadLettersOut)
async def list_dead_letters(
    request: Request,
    caller: Caller,
    service: Annotated[ServiceName | None, Query(description="Only this service's letters.")] = None,
    page_size: Annotated[int, Query(ge=0, le=500, description="Per service; 0 means 100.")] = 0,
    page_token: Annotated[str, Query(description="A next_page_tokens value; needs service.")] = "",
) -> DeadLettersOut:
    """Events every service's consumers gave up on after their attempts, oldest first (needs sre)."""
    require_role("sre", of=caller)  # the services check too; refusing here spares a fan-out
    if page_token and service is None:
        raise InvalidArgument.for_field("page_token", "name the service the token came from")
    services: list[ServiceName] = [service] if service else list(get_args(ServiceName))

    async def one(name: ServiceName) -> tuple[ServiceName, pb.ListDeadLettersResponse | DomainError]:
        try:
            reply = await call(
                _stub(request, name).ListDeadLetters,
                pb.ListDeadLettersRequest(page_size=page_size, page_token=page_token),
                caller=caller,
            )
        except DomainError as err:
            if service is not None or err.code not in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                raise
            return name, err
        return name, reply

    out = DeadLettersOut(dead_letters=[], next_page_tokens={}, unreachable={})
    for name, reply in await asyncio.gather(*(one(n) for n in services)):
        if isinstance(reply, DomainError):
            out.unreachable[name] = reply.message
            continue
        out.dead_letters += [_letter(name, d) for d in reply.dead_letters]
        if reply.next_page_token:
            out.next_page_tokens[name] = reply.next_page_token
    return out


@router.post("/dead-letters/{service}/{sequence}/replay", response_model=ReplayOut)
async def replay_dead_letter(
    service: ServiceName,
    sequence: Annotated[
        int, Path(ge=1, le=2**64 - 1, description="The letter's sequence, from the listing.")
    ],
    request: Request,
    caller: Caller,
) -> ReplayOut:
    """Applies a dead letter again through the consumer that gave up on it, once the cause is fixed; the
    consumer's inbox makes the effect happen at most once (needs sre)."""
    require_role("sre", of=caller)
    reply = await call(
        _stub(request, service).ReplayDeadLetter, pb.ReplayDeadLetterRequest(sequence=sequence), caller=caller
    )
    return ReplayOut(dead_letter=_letter(service, reply.dead_letter), applied=reply.applied)
