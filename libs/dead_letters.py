"""Dead letters: events a consumer gave up on, kept for an SRE to read and replay.

A message whose handler failed ``SHOP_EVENT_MAX_ATTEMPTS`` times (or that can never be applied) is
published to ``shop.dead_letter.<service>.<original subject>`` in the ``SHOP_DEAD_LETTERS`` stream, with its
original headers (trace context included), the consumer, the last error and the attempt count; then the
original is terminated so the events behind it go on. Every service serves ``shop.ops.v1.DeadLetterService``
for its own consumers: listing reads the stream; a replay applies the letter through the same consumer
code (inbox and effect in one transaction, so at most once) and deletes it from the stream.

    python -m libs.dead_letters list [--service orders]       # every service's dead letters
    python -m libs.dead_letters replay orders 42              # replay letter 42 of the orders service
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
import nats.js.errors
from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.msg import Msg
from shop.ops.v1 import dead_letters_pb2 as pb
from shop.ops.v1 import dead_letters_pb2_grpc

from libs import config, identity
from libs.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from libs.event_bus import EventBus
from libs.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, EVENT_TYPE_HEADER, MSG_ID_HEADER
from libs.subscriptions import Applier, Delivery, Subscription

CONSUMER_HEADER = "Shop-Dead-Letter-Consumer"
ERROR_HEADER = "Shop-Dead-Letter-Error"
ATTEMPTS_HEADER = "Shop-Dead-Letter-Attempts"
SUBJECT_HEADER = "Shop-Dead-Letter-Subject"
FAILED_AT_HEADER = "Shop-Dead-Letter-Failed-At"
MAX_PAGE = 500
DEFAULT_PAGE = 100
SRE = "sre"


def subject_for(service: str, original_subject: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{service}.{original_subject}"


def _header_value(text: str) -> str:
    # NATS headers are single lines.
    return " ".join(text.split())[:1000]


class DeadLetterBox:
    """One service's dead letters in the stream."""

    def __init__(self, service: str, bus: EventBus) -> None:
        self.service = service
        self.bus = bus

    async def put(self, subscription: Subscription[Any], msg: Msg, error: str) -> None:
        """Keeps ``msg`` as a dead letter; the broker keeps one copy per event and consumer."""
        headers = dict(msg.headers or {})
        event_id = headers.get(MSG_ID_HEADER, "")
        headers.update(
            {
                CONSUMER_HEADER: subscription.durable,
                ERROR_HEADER: _header_value(error),
                ATTEMPTS_HEADER: str(msg.metadata.num_delivered),
                SUBJECT_HEADER: msg.subject,
                FAILED_AT_HEADER: datetime.now(UTC).isoformat(),
                # Dead-lettering again after a crash between this publish and the term stores nothing new.
                MSG_ID_HEADER: f"{event_id}:{subscription.durable}",
            }
        )
        await self.bus.js.publish(subject_for(self.service, msg.subject), msg.data, headers=headers)

    def _require_bus(self) -> None:
        if not self.bus.ready:
            raise Unavailable("the event bus is not connected; retry shortly", reason="EVENT_BUS_UNAVAILABLE")

    async def list(self, page_size: int, page_token: str) -> tuple[list[pb.DeadLetter], str]:
        """Letters from the position ``page_token`` names (the first when empty), oldest first."""
        self._require_bus()
        if page_size < 0:
            raise InvalidArgument.for_field("page_size", "must be 0 or more")
        size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
        try:
            sequence = int(page_token) if page_token else 1
        except ValueError:
            raise InvalidArgument.for_field("page_token", "is not a token this service issued") from None
        letters: list[pb.DeadLetter] = []
        jsm = self.bus.js
        while len(letters) < size:
            try:
                raw = await jsm.get_msg(
                    DEAD_LETTER_STREAM,
                    seq=sequence,
                    subject=f"{DEAD_LETTER_PREFIX}.{self.service}.>",
                    next=True,
                )
            except nats.js.errors.NotFoundError:
                return letters, ""
            letters.append(to_proto(raw.seq or 0, dict(raw.headers or {}), raw.data or b""))
            sequence = (raw.seq or 0) + 1
        return letters, str(sequence)

    async def get(self, sequence: int) -> tuple[pb.DeadLetter, Delivery]:
        self._require_bus()
        if sequence < 1:
            raise InvalidArgument.for_field("sequence", "must be a dead letter's sequence (1 or more)")
        try:
            raw = await self.bus.js.get_msg(DEAD_LETTER_STREAM, seq=sequence)
        except nats.js.errors.NotFoundError:
            raw = None
        prefix = f"{DEAD_LETTER_PREFIX}.{self.service}."
        if raw is None or not (raw.subject or "").startswith(prefix):
            raise NotFound.for_field(
                "sequence", f"no dead letter {sequence} of {self.service}", reason="DEAD_LETTER_NOT_FOUND"
            )
        headers = dict(raw.headers or {})
        data = raw.data or b""
        letter = to_proto(sequence, headers, data)
        # The letter's own id names the consumer too; the inbox knows the event by its id alone.
        original = {**headers, MSG_ID_HEADER: letter.event_id}
        return letter, Delivery(letter.subject, data, original, letter.attempts + 1)

    async def delete(self, sequence: int) -> None:
        await self.bus.js.delete_msg(DEAD_LETTER_STREAM, sequence)


def to_proto(sequence: int, headers: Mapping[str, str], data: bytes) -> pb.DeadLetter:
    """A stored letter as the API shows it; the event is decoded when its type is known here."""
    from google.protobuf import symbol_database

    event_type = headers.get(EVENT_TYPE_HEADER, "")
    try:
        message = symbol_database.Default().GetSymbol(event_type)()
        message.ParseFromString(data)
        event_json = json_format.MessageToJson(message, indent=None, preserving_proto_field_name=True)
    except Exception:  # unknown type or undecodable: show the bytes
        event_json = json.dumps({"payload_base64": base64.b64encode(data).decode()})
    failed_at = Timestamp()
    with contextlib.suppress(ValueError):
        failed_at.FromDatetime(datetime.fromisoformat(headers.get(FAILED_AT_HEADER, "")))
    traceparent = headers.get("traceparent", "")
    parts = traceparent.split("-")
    try:
        attempts = int(headers.get(ATTEMPTS_HEADER, "0"))
    except ValueError:
        attempts = 0
    return pb.DeadLetter(
        sequence=sequence,
        event_id=headers.get(MSG_ID_HEADER, "").split(":", 1)[0],
        subject=headers.get(SUBJECT_HEADER, ""),
        consumer=headers.get(CONSUMER_HEADER, ""),
        event_type=event_type,
        error=headers.get(ERROR_HEADER, ""),
        attempts=attempts,
        failed_at=failed_at,
        trace_id=parts[1] if len(parts) == 4 else "",
        event_json=event_json,
    )


class DeadLetterServicer(dead_letters_pb2_grpc.DeadLetterServiceServicer):  # type: ignore[misc]
    """``shop.ops.v1.DeadLetterService`` for one service's consumers."""

    def __init__(self, box: DeadLetterBox, appliers: Sequence[Applier]) -> None:
        self.box = box
        self.appliers = {a.subscription.spec.subject: a for a in appliers}

    async def ListDeadLetters(
        self, request: pb.ListDeadLettersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListDeadLettersResponse:
        letters, token = await self.box.list(request.page_size, request.page_token)
        return pb.ListDeadLettersResponse(dead_letters=letters, next_page_token=token)

    async def ReplayDeadLetter(
        self, request: pb.ReplayDeadLetterRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplayDeadLetterResponse:
        letter, delivery = await self.box.get(request.sequence)
        applier = self.appliers.get(letter.subject)
        if applier is None:
            raise FailedPrecondition.for_field(
                "sequence",
                f"{self.box.service} no longer consumes {letter.subject}; nothing can apply this letter",
                reason="NO_CONSUMER",
            )
        try:
            applied = await applier.apply([delivery], operation="replay")
        except Exception as err:
            raise FailedPrecondition.for_field(
                "sequence", f"the consumer failed again: {type(err).__name__}: {err}", reason="REPLAY_FAILED"
            ) from err
        await self.box.delete(request.sequence)
        return pb.ReplayDeadLetterResponse(dead_letter=letter, applied=bool(applied))


# --- command line ---------------------------------------------------------------------------------------


async def _cli(args: argparse.Namespace) -> int:
    from libs.grpc_client import call, open_channel

    caller = identity.service_identity("dead-letters-cli", [SRE])
    services = [args.service] if getattr(args, "service", None) else list(config.SERVICE_PORTS)
    status = 0
    for service in services:
        channel = open_channel(config.service_target(service), traced=False)
        stub = dead_letters_pb2_grpc.DeadLetterServiceStub(channel)
        try:
            if args.command == "replay":
                reply = await call(
                    stub.ReplayDeadLetter, pb.ReplayDeadLetterRequest(sequence=args.sequence), caller=caller
                )
                outcome = "applied" if reply.applied else "already applied before; nothing done twice"
                print(f"{service} #{args.sequence} {reply.dead_letter.subject}: {outcome}")
                continue
            token = ""
            shown = 0
            while True:
                page = await call(
                    stub.ListDeadLetters, pb.ListDeadLettersRequest(page_token=token), caller=caller
                )
                for d in page.dead_letters:
                    shown += 1
                    print(
                        f"{service} #{d.sequence}  {d.failed_at.ToDatetime(tzinfo=UTC):%Y-%m-%d %H:%M:%S}Z  "
                        f"{d.consumer}  {d.event_id}  attempts={d.attempts}  trace={d.trace_id}\n"
                        f"    error: {d.error}\n    event: {d.event_json}"
                    )
                token = page.next_page_token
                if not token:
                    break
            if not shown:
                print(f"{service}: no dead letters")
        except Exception as err:
            print(f"{service}: {err}", file=sys.stderr)
            status = 1
        finally:
            await channel.close()
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m libs.dead_letters", description="List and replay dead letters."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--service", choices=list(config.SERVICE_PORTS))
    replay = sub.add_parser("replay", help="apply one dead letter again through its consumer")
    replay.add_argument("service", choices=list(config.SERVICE_PORTS))
    replay.add_argument("sequence", type=int)
    return asyncio.run(_cli(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
