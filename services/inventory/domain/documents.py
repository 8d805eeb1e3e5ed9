"""What a warehouse document records as its commands run (a receipt, a transfer, a count).

A document is an aggregate: its commands check that the step is allowed now, change its state, and record
what the step caused: the stock movements for the ledger (the only way stock moves, INV-14) and the
events the rest of the shop must learn of. Its repository takes both when it saves the document, in the
same transaction, so a step and its consequences commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message

from services.inventory.domain.stock import Movement


@dataclass(frozen=True)
class PendingEvent:
    """An event for the outbox, published under ``key`` (the id of what it is about)."""

    key: str
    event: Message


@dataclass(frozen=True)
class Posting:
    """Movements the ledger posts together, by ``actor``. A guard the ledger refuses names ``field``."""

    movements: tuple[Movement, ...]
    actor: str
    field: str


@dataclass(kw_only=True)
class Document:
    """The recording half of every warehouse document; its commands add to it, its repository drains it."""

    _events: list[PendingEvent] = field(default_factory=list, init=False, repr=False, compare=False)
    _postings: list[Posting] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def pending_events(self) -> tuple[PendingEvent, ...]:
        """The events recorded and not yet saved, in the order they happened."""
        return tuple(self._events)

    @property
    def pending_postings(self) -> tuple[Posting, ...]:
        """The ledger postings recorded and not yet saved, in the order they happened."""
        return tuple(self._postings)

    def take_events(self) -> list[PendingEvent]:
        """Hands the recorded events to the repository that saves them."""
        taken, self._events = self._events, []
        return taken

    def take_postings(self) -> list[Posting]:
        """Hands the recorded postings to the repository that posts them."""
        taken, self._postings = self._postings, []
        return taken

    def _record(self, key: str, event: Message) -> None:
        self._events.append(PendingEvent(key, event))

    def _post(self, movements: Sequence[Movement], *, actor: str, field: str) -> None:
        if movements:
            self._postings.append(Posting(tuple(movements), actor, field))
