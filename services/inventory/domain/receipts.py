"""The receipt (入库单) of one supplier delivery, as an aggregate (INV-3 .. INV-7).

An open receipt takes counts, inspection results and two signatures, each command checking the rules of
``receiving``; it is then posted once, as stock or as a rejection, and never changes again. Posting records
the lots, the ledger movements and the events (DeliveryRejected, StockReceived, NewStyleReceived) for the
repository to save in one transaction.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import datetime

from shop.inventory.v1 import events_pb2

from libs.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Violations
from libs.timestamps import to_timestamp
from services.inventory.domain.documents import Document
from services.inventory.domain.lots import label_id_for
from services.inventory.domain.places import DEFECTIVE_WAREHOUSE
from services.inventory.domain.receiving import (
    PHOTO_DEADLINE,
    SIGNING_ROLES,
    InspectionStage,
    ReceiptLine,
    Verdict,
    check_signature,
    delivery_rejected,
    is_overdue,
    new_lines,
    ready_to_post,
    record_count,
    record_inspection,
)
from services.inventory.domain.stock import Movement, MovementKind

DOCUMENT = "receipt"


class ReceiptStatus(enum.Enum):
    OPEN = "open"
    POSTED = "posted"
    REJECTED = "rejected"  # posted as a rejection: nothing stocked, everything back to the supplier


@dataclass(frozen=True)
class DeliveryNote:
    """A supplier's delivery note as registered: who delivered, its number, where it goes, its lines."""

    supplier_code: str
    delivery_note_number: str
    warehouse_code: str
    lines: tuple[ReceiptLine, ...]

    @property
    def sku_codes(self) -> list[str]:
        return [line.sku_code for line in self.lines]


def new_receipt_header(
    supplier_code: str, delivery_note_number: str, warehouse_code: str
) -> tuple[str, str, str]:
    """Validates who delivered, the note's number and the receiving warehouse; InvalidArgument names
    every offending field."""
    v = Violations()
    v.require(bool(supplier_code.strip()), "supplier_code", "is required")
    v.require(bool(delivery_note_number.strip()), "delivery_note_number", "is required")
    v.require(bool(warehouse_code.strip()), "warehouse_code", "is required")
    for name, value in (("supplier_code", supplier_code), ("delivery_note_number", delivery_note_number)):
        v.require(len(value) <= 100, name, "must be at most 100 characters")
    v.raise_if_any()
    return supplier_code.strip(), delivery_note_number.strip(), warehouse_code.strip()


def delivery_note(
    supplier_code: str, delivery_note_number: str, warehouse_code: str, lines: list[tuple[str, int]]
) -> DeliveryNote:
    """A delivery note to register (INV-3): the header first, then its lines, each offending field named."""
    supplier, number, warehouse = new_receipt_header(supplier_code, delivery_note_number, warehouse_code)
    return DeliveryNote(supplier, number, warehouse, tuple(new_lines(lines)))


@dataclass(frozen=True)
class InspectionResult:
    """One inspection of one line: the stage, the units inspected and how many of them failed."""

    line_no: int
    stage: InspectionStage
    inspected_units: int
    failed_units: int


@dataclass(frozen=True)
class SkuStyle:
    """What posting needs to know of a SKU: its style number and name, for the inbound notice (INV-7)."""

    style_number: str
    name: str


@dataclass(frozen=True)
class NewLot:
    """A lot (批次) posting makes: its id and the barcode label printed for it (INV-3)."""

    lot_id: uuid.UUID
    label_id: str
    sku_code: str
    quantity: int
    document_id: str
    document_type: str = DOCUMENT


@dataclass(frozen=True)
class FirstReceipt:
    """A style received for the first time: photos are due within 3 days (INV-7)."""

    style_number: str
    name: str
    receipt_id: str
    received_at: datetime
    photos_due_at: datetime


@dataclass(frozen=True)
class ReceiptChanges:
    """What a receipt's commands changed beyond its header and signatures, for its repository."""

    lines: tuple[ReceiptLine, ...]
    new_lots: tuple[NewLot, ...]
    first_receipts: tuple[FirstReceipt, ...]


@dataclass
class Receipt(Document):
    """The receiving document (入库单) of one delivery, from its note to posting (INV-3 .. INV-7)."""

    receipt_id: str
    supplier_code: str
    delivery_note_number: str
    warehouse_code: str
    status: ReceiptStatus
    lines: tuple[ReceiptLine, ...]
    # role -> user id of who signed in that role
    signatures: dict[str, str]
    created_at: datetime
    created_by: str = ""
    posted_at: datetime | None = None
    posted_by: str | None = None
    _changed_lines: set[int] = field(default_factory=set, init=False, repr=False, compare=False)
    _new_lots: list[NewLot] = field(default_factory=list, init=False, repr=False, compare=False)
    _first_receipts: list[FirstReceipt] = field(default_factory=list, init=False, repr=False, compare=False)

    @classmethod
    def register(
        cls,
        note: DeliveryNote,
        *,
        receipt_id: str,
        warehouse_sellable: bool,
        unknown_skus: Set[str],
        actor: str,
        now: datetime,
    ) -> Receipt:
        """Opens the receipt of a delivery (INV-3): into a sellable warehouse, for SKUs the shop knows."""
        if not warehouse_sellable:
            raise FailedPrecondition.for_field(
                "warehouse_code", "deliveries are received into a sellable warehouse"
            )
        for i, line in enumerate(note.lines):
            if line.sku_code in unknown_skus:
                raise NotFound.for_field(
                    f"lines[{i}].sku_code", f"unknown SKU {line.sku_code!r}", reason="SKU_NOT_FOUND"
                )
        return cls(
            receipt_id=receipt_id,
            supplier_code=note.supplier_code,
            delivery_note_number=note.delivery_note_number,
            warehouse_code=note.warehouse_code,
            status=ReceiptStatus.OPEN,
            lines=note.lines,
            signatures={},
            created_at=now,
            created_by=actor,
        )

    # --- what it says ---------------------------------------------------------------------------------

    @property
    def delivery_rejected(self) -> bool:
        """INV-4: one line below 70% rejects the whole delivery."""
        return delivery_rejected(list(self.lines))

    def overdue(self, now: datetime) -> bool:
        """INV-5: still open after its business day."""
        return self.status is ReceiptStatus.OPEN and is_overdue(self.created_at, now)

    @property
    def sku_codes(self) -> list[str]:
        """The SKUs of the lines, in SKU order."""
        return sorted({line.sku_code for line in self.lines})

    # --- commands -------------------------------------------------------------------------------------

    def record_counts(self, counts: Sequence[tuple[int, int]]) -> None:
        """INV-3: the counted quantity per line (line number, units); shortages and overages are kept.
        A line may be recounted until its inspection starts."""
        self._require_open()
        if not counts:
            raise InvalidArgument.for_field("counts", "record at least one line's count")
        for i, (line_no, received) in enumerate(counts):
            line = self._line(line_no, f"counts[{i}].line_no")
            self._replace(record_count(line, received, field=f"counts[{i}].received_quantity"))

    def record_inspection(self, results: Sequence[InspectionResult]) -> None:
        """INV-4: inspection results, round by round; each must be the line's due stage and follow its
        sampling plan. Results for one line apply in the order given."""
        self._require_open()
        if not results:
            raise InvalidArgument.for_field("results", "record at least one inspection result")
        for i, result in enumerate(results):
            prefix = f"results[{i}]"
            line = self._line(result.line_no, f"{prefix}.line_no")
            self._replace(
                record_inspection(
                    line, result.stage, result.inspected_units, result.failed_units, prefix=prefix
                )
            )

    def sign(self, role: str, *, user_id: str, roles: Set[str]) -> None:
        """INV-5: signs in ``role``, which the signer must hold; the warehouse supervisor and the stock
        keeper sign, and they are two different people."""
        if role not in SIGNING_ROLES:
            raise InvalidArgument.for_field("role", "must be warehouse_supervisor or stock_keeper")
        if role not in roles:
            raise PermissionDenied(f"role: needs one of {role}", reason="ROLE_REQUIRED")
        self._require_open()
        check_signature(self.signatures, role, user_id)
        self.signatures[role] = user_id

    def post(
        self,
        *,
        actor: str,
        now: datetime,
        styles: Mapping[str, SkuStyle],
        received_styles: Set[str],
        new_lot_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        """Posts a signed receipt whose every line is decided (INV-3 .. INV-7).

        A rejected delivery stocks nothing and is announced (DeliveryRejected). Otherwise accepted units
        become lots in the receiving area of the receipt's warehouse and defective units lots in the
        defective-goods warehouse; the inbound notice names the styles received (StockReceived), and a
        style not in ``received_styles`` is announced as new (NewStyleReceived). ``styles`` gives each
        line's SKU its style and name.
        """
        self._require_open()
        missing = [role for role in SIGNING_ROLES if role not in self.signatures]
        if missing:
            raise FailedPrecondition.for_field(
                "signatures", f"posting needs the signature of the {' and the '.join(missing)} (INV-5)",
                reason="SIGNATURE_MISSING",
            )  # fmt: skip
        pending = ready_to_post(list(self.lines))
        if pending:
            raise FailedPrecondition.for_field(
                "lines", "not every line is decided: " + "; ".join(pending), reason="QC_PENDING"
            )
        self.posted_by, self.posted_at = actor, now
        if self.delivery_rejected:
            self.status = ReceiptStatus.REJECTED
            self._record(
                self.receipt_id,
                events_pb2.DeliveryRejected(
                    receipt_id=self.receipt_id,
                    supplier_code=self.supplier_code,
                    delivery_note_number=self.delivery_note_number,
                    failed_sku_codes=[
                        line.sku_code for line in self.lines if line.verdict is Verdict.REJECT_DELIVERY
                    ],
                ),
            )
            return
        self.status = ReceiptStatus.POSTED
        movements: list[Movement] = []
        for line in self.lines:
            lot_id = self._stock(line, line.accepted_units, self.warehouse_code, new_lot_id, movements)
            defective_lot_id = self._stock(
                line, line.defective_units, DEFECTIVE_WAREHOUSE, new_lot_id, movements
            )
            self._replace(replace(line, lot_id=lot_id, defective_lot_id=defective_lot_id))
        self._post(movements, actor=actor, field="lines")
        self._announce_inbound(now, styles, received_styles)

    # --- for the repository ---------------------------------------------------------------------------

    def take_changes(self) -> ReceiptChanges:
        """Hands the changed lines, the lots and the first receipts of styles to the repository."""
        changes = ReceiptChanges(
            tuple(line for line in self.lines if line.line_no in self._changed_lines),
            tuple(self._new_lots),
            tuple(self._first_receipts),
        )
        self._changed_lines, self._new_lots, self._first_receipts = set(), [], []
        return changes

    # --- inside ---------------------------------------------------------------------------------------

    def _require_open(self) -> None:
        """Posted documents are immutable: corrections are new documents."""
        if self.status is not ReceiptStatus.OPEN:
            raise FailedPrecondition.for_field(
                "receipt_id", f"the receipt is {self.status.value}", reason="RECEIPT_POSTED"
            )

    def _line(self, line_no: int, field: str) -> ReceiptLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise InvalidArgument.for_field(field, f"the receipt has no line {line_no}")

    def _replace(self, changed: ReceiptLine) -> None:
        self.lines = tuple(changed if line.line_no == changed.line_no else line for line in self.lines)
        self._changed_lines.add(changed.line_no)

    def _stock(
        self,
        line: ReceiptLine,
        units: int,
        warehouse_code: str,
        new_lot_id: Callable[[], uuid.UUID],
        movements: list[Movement],
    ) -> uuid.UUID | None:
        """A new lot of ``units`` of the line in ``warehouse_code``'s receiving area; None for no units."""
        if units <= 0:
            return None
        lot_id = new_lot_id()
        self._new_lots.append(
            NewLot(lot_id, label_id_for(line.sku_code, lot_id), line.sku_code, units, self.receipt_id)
        )
        movements.append(
            Movement(
                kind=MovementKind.RECEIPT,
                sku_code=line.sku_code,
                warehouse_code=warehouse_code,
                lot_id=lot_id,
                on_hand_delta=units,
                document_type=DOCUMENT,
                document_id=self.receipt_id,
                note=f"{self.supplier_code} {self.delivery_note_number} line {line.line_no}",
            )
        )
        return lot_id

    def _announce_inbound(
        self, now: datetime, styles: Mapping[str, SkuStyle], received_styles: Set[str]
    ) -> None:
        """INV-7: the inbound notice names the styles received; a style's first receipt flags it new."""
        notice = events_pb2.StockReceived(
            receipt_id=self.receipt_id, warehouse_code=self.warehouse_code, posted_at=to_timestamp(now)
        )
        first_seen: dict[str, str] = {}
        for line in self.lines:
            style = styles[line.sku_code]
            notice.lines.append(
                events_pb2.StockReceived.Line(
                    sku_code=line.sku_code,
                    style_number=style.style_number,
                    name=style.name,
                    accepted=line.accepted_units,
                    defective=line.defective_units,
                    lot_id=str(line.lot_id) if line.lot_id else "",
                    label_id=label_id_for(line.sku_code, line.lot_id) if line.lot_id else "",
                )
            )
            if line.accepted_units > 0:
                first_seen[style.style_number] = style.name
        self._record(self.receipt_id, notice)
        for style_number, name in sorted(first_seen.items()):
            if style_number in received_styles:
                continue
            first = FirstReceipt(style_number, name, self.receipt_id, now, now + PHOTO_DEADLINE)
            self._first_receipts.append(first)
            self._record(
                style_number,
                events_pb2.NewStyleReceived(
                    style_number=style_number,
                    name=name,
                    receipt_id=self.receipt_id,
                    photos_due_at=to_timestamp(first.photos_due_at),
                ),
            )
