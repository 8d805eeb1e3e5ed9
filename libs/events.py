"""The event catalogue: which events exist, the subject each travels on, who publishes and who consumes it.

It is declared once, on the event messages in each service's ``events.proto`` (the ``shop.common.v1.event``
option), and read from the generated descriptors here: the relay takes each event's subject from it, the
consumer kit refuses a subscription the catalogue does not declare, the JetStream streams are derived from
it, and the README's table is printed from it.

    python -m libs.events              # the catalogue as a Markdown table
"""

from __future__ import annotations

import argparse
import functools
import importlib
import re
import sys
from dataclasses import dataclass

from google.protobuf.message import Message

from libs.config import SERVICE_PORTS
from libs.errors import InvalidArgument

_SUBJECT = re.compile(r"^shop\.([a-z]+)\.v1\.[a-z][a-z0-9_]*$")

# The headers an event travels with, besides the W3C trace context: written by the relay, read by the
# consumers and the dead letters.
MSG_ID_HEADER = "Nats-Msg-Id"  # the event id; the broker drops a second copy within its window
EVENT_TYPE_HEADER = "Shop-Event-Type"
AGGREGATE_HEADER = "Shop-Aggregate-Id"
PUBLISHED_AT_HEADER = "Shop-Published-At"

#: Subjects of events that consumers gave up on: shop.dead_letter.<consumer service>.<original subject>.
DEAD_LETTER_PREFIX = "shop.dead_letter"
DEAD_LETTER_STREAM = "SHOP_DEAD_LETTERS"


@dataclass(frozen=True)
class Consumer:
    service: str
    effect: str


@dataclass(frozen=True)
class EventSpec:
    """One event of the catalogue."""

    message: type[Message]
    subject: str
    publisher: str
    consumers: tuple[Consumer, ...]

    @property
    def full_name(self) -> str:
        return str(self.message.DESCRIPTOR.full_name)

    @property
    def name(self) -> str:
        """The subject's last token, e.g. ``stock_available``."""
        return self.subject.rsplit(".", 1)[1]

    def durable_name(self, service: str) -> str:
        """The durable JetStream consumer of ``service`` for this event, shared by its replicas."""
        return f"{service}-{self.name}"


def stream_name(publisher: str) -> str:
    """The JetStream stream holding every event ``publisher`` publishes."""
    return f"SHOP_{publisher.upper()}_EVENTS"


def stream_subjects(publisher: str) -> list[str]:
    return [f"shop.{publisher}.v1.>"]


class Catalogue:
    """Every declared event, looked up by message type or subject."""

    def __init__(self, events: list[EventSpec]) -> None:
        self.events = sorted(events, key=lambda e: e.subject)
        self._by_name = {e.full_name: e for e in self.events}
        self._by_subject = {e.subject: e for e in self.events}

    def of(self, message: Message | type[Message]) -> EventSpec:
        """The declaration of an event message (or its class); refuses a message that declares none."""
        name = message.DESCRIPTOR.full_name
        spec = self._by_name.get(name)
        if spec is None:
            raise InvalidArgument.for_field(
                "event", f"{name} is not an event: declare option (shop.common.v1.event) on it"
            )
        return spec

    def by_subject(self, subject: str) -> EventSpec | None:
        return self._by_subject.get(subject)

    def published_by(self, service: str) -> list[EventSpec]:
        return [e for e in self.events if e.publisher == service]

    def consumed_by(self, service: str) -> list[EventSpec]:
        return [e for e in self.events if any(c.service == service for c in e.consumers)]

    def publishers(self) -> list[str]:
        return sorted({e.publisher for e in self.events})

    def markdown(self) -> str:
        """The catalogue as the README shows it."""
        rows = [
            "| event | subject | publisher | consumers and what they do |",
            "|---|---|---|---|",
        ]
        for e in self.events:
            consumers = "<br>".join(f"**{c.service}**: {c.effect}" for c in e.consumers) or "—"
            rows.append(f"| `{e.full_name}` | `{e.subject}` | {e.publisher} | {consumers} |")
        return "\n".join(rows)


def _load(message: type[Message]) -> EventSpec | None:
    from shop.common.v1 import events_pb2 as options

    declared = message.DESCRIPTOR.GetOptions().Extensions[options.event]
    if not declared.subject:
        return None
    match = _SUBJECT.match(declared.subject)
    package = message.DESCRIPTOR.full_name.split(".")
    if match is None or match.group(1) != package[1]:
        raise ValueError(
            f"{message.DESCRIPTOR.full_name}: subject {declared.subject!r} must be shop.{package[1]}.v1.<name>"
        )
    consumers = tuple(Consumer(c.service, c.effect) for c in declared.consumers)
    unknown = [c.service for c in consumers if c.service not in SERVICE_PORTS]
    if unknown:
        raise ValueError(f"{message.DESCRIPTOR.full_name}: unknown consumer service(s) {unknown}")
    return EventSpec(message, declared.subject, package[1], consumers)


@functools.cache
def catalogue() -> Catalogue:
    """The catalogue of every service's ``events.proto`` (generated code must be importable)."""
    from google.protobuf import symbol_database

    events: list[EventSpec] = []
    for service in SERVICE_PORTS:
        try:
            module = importlib.import_module(f"shop.{service}.v1.events_pb2")
        except ModuleNotFoundError:
            continue
        db = symbol_database.Default()
        for name in module.DESCRIPTOR.message_types_by_name.values():
            spec = _load(db.GetSymbol(name.full_name))
            if spec is not None:
                events.append(spec)
    subjects = [e.subject for e in events]
    duplicated = {s for s in subjects if subjects.count(s) > 1}
    if duplicated:
        raise ValueError(f"subjects declared twice: {sorted(duplicated)}")
    return Catalogue(events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m libs.events", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print(catalogue().markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
