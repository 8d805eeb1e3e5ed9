"""The scanning station (验货, LOG-3): a parcel is checked by scanning before it is packed.

First the shipping label and the packing slip are scanned: both must name the parcel on the bench. Then
each item is scanned, one unit per scan. An item barcode is either the SKU code itself or the label of one
of its lots (``SKU-XXXXXXXXXX``, see ``services.inventory.domain.lots.label_id_for``). A unit of a SKU the
parcel does not hold (a wrong item) or beyond the units the parcel expects (an extra item) is refused and
not counted, so the packer takes it out of the tray; the refusal lists the difference so far. When every
expected unit is scanned the parcel is verified, and only a verified parcel is packed.

Scanned counts are stored per SKU and the verification is rebuilt from them. Stored counts are taken as
facts even when they no longer fit the parcel (its order's lines changed after scanning began): such units
show as extra and keep the parcel from being verified.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from types import MappingProxyType

from libs.errors import FailedPrecondition, FieldViolation, InvalidArgument, Violations

#: A lot's barcode label: its SKU code, a dash and 10 upper-case hex digits (INV-3 ``label_id_for``).
LOT_LABEL = re.compile(r"(?P<sku>.+)-[0-9A-F]{10}")

WRONG_ITEM = "WRONG_ITEM"
EXTRA_ITEM = "EXTRA_ITEM"
UNKNOWN_BARCODE = "UNKNOWN_BARCODE"
LABEL_MISMATCH = "LABEL_MISMATCH"
NOT_VERIFIED = "NOT_VERIFIED"

#: A parcel on which nothing is scanned yet.
NOTHING_SCANNED: Mapping[str, int] = MappingProxyType({})


def check_documents(parcel_id: str, label_barcode: str, packing_slip_barcode: str) -> None:
    """Checks that the scanned shipping label and packing slip both name ``parcel_id`` (LOG-3).

    Each document's barcode carries its parcel's id. A missing one is InvalidArgument; one of another
    parcel is FailedPrecondition with reason LABEL_MISMATCH. Either way every offending field
    (``label_barcode``, ``packing_slip_barcode``) is named.
    """
    parcel = parcel_id.strip()
    if not parcel:
        raise InvalidArgument.for_field("parcel_id", "is required")
    documents = {"label_barcode": label_barcode, "packing_slip_barcode": packing_slip_barcode}
    v = Violations()
    for field_path, barcode in documents.items():
        v.require(bool(barcode.strip()), field_path, "is required")
    v.raise_if_any()
    mismatches = [
        FieldViolation(field_path, f"names parcel {barcode.strip()!r}, not {parcel!r}")
        for field_path, barcode in documents.items()
        # Scanners end a read with CR or LF; the id itself never has surrounding spaces.
        if barcode.strip() != parcel
    ]
    if mismatches:
        raise FailedPrecondition(
            "; ".join(f"{m.field}: {m.description}" for m in mismatches),
            violations=mismatches,
            reason=LABEL_MISMATCH,
        )


def sku_of_barcode(barcode: str, known_skus: Set[str]) -> str:
    """The SKU code an item barcode stands for: the SKU code itself, or a lot label ``SKU-XXXXXXXXXX``
    (10 upper-case hex digits) of a SKU in ``known_skus``.

    Anything else is InvalidArgument naming ``barcode`` with reason UNKNOWN_BARCODE.
    """
    code = barcode.strip()
    # The SKU code wins: a SKU code may itself end in something that looks like a lot suffix.
    if code in known_skus:
        return code
    lot = LOT_LABEL.fullmatch(code)
    if lot is not None and lot["sku"] in known_skus:
        return lot["sku"]
    raise InvalidArgument.for_field(
        "barcode",
        f"{code!r} is neither a known SKU code nor a lot label of one" if code else "is empty",
        reason=UNKNOWN_BARCODE,
    )


def skus_named_by(barcode: str) -> set[str]:
    """The SKU codes a barcode may stand for: itself, and the SKU of a lot label ``SKU-XXXXXXXXXX``; which
    of them the catalogue holds decides (``sku_of_barcode``)."""
    code = barcode.strip()
    lot = LOT_LABEL.fullmatch(code)
    return {code, lot["sku"]} if lot is not None else {code} if code else set()


@dataclass(frozen=True)
class SkuDifference:
    """One SKU of a parcel: units expected, scanned, still missing, and scanned beyond what is expected
    (a SKU the parcel does not hold is expected 0 times)."""

    sku_code: str
    expected: int
    scanned: int

    @property
    def missing(self) -> int:
        return max(0, self.expected - self.scanned)

    @property
    def extra(self) -> int:
        return max(0, self.scanned - self.expected)

    def describe(self) -> str:
        """``"SKU: expected 2, scanned 1, missing 1"``, with ``extra n`` when there is any."""
        text = f"{self.sku_code}: expected {self.expected}, scanned {self.scanned}, missing {self.missing}"
        return f"{text}, extra {self.extra}" if self.extra else text


def describe_difference(rows: Iterable[SkuDifference]) -> str:
    """The difference as one line for an error message, SKUs separated by ``"; "``."""
    return "; ".join(row.describe() for row in rows)


@dataclass(frozen=True)
class ScanOutcome:
    """A counted scan: the SKU the barcode stands for, its units now scanned and expected, the units the
    whole parcel still misses, and whether the parcel is now verified."""

    barcode: str
    sku_code: str
    scanned: int
    expected: int
    parcel_missing: int
    verified: bool


class Verification:
    """The scanning of one parcel's items (LOG-3), rebuilt from its expected and already scanned units.

    ``expected`` maps each SKU code of the parcel to its units (1 or more); ``scanned`` maps SKU codes to
    the units already counted (0 or more; missing SKUs have none). Bad counts are InvalidArgument naming
    ``expected[SKU]`` or ``scanned[SKU]``. The mappings are copied.
    """

    def __init__(
        self, parcel_id: str, expected: Mapping[str, int], scanned: Mapping[str, int] = NOTHING_SCANNED
    ) -> None:
        v = Violations()
        v.require(bool(parcel_id.strip()), "parcel_id", "is required")
        v.require(bool(expected), "expected", "a parcel holds at least one unit")
        for sku, units in expected.items():
            _check_sku(v, f"expected[{sku}]", sku)
            v.require(
                _is_count(units) and units >= 1, f"expected[{sku}]", f"must be 1 or more, got {units!r}"
            )
        for sku, units in scanned.items():
            _check_sku(v, f"scanned[{sku}]", sku)
            v.require(_is_count(units) and units >= 0, f"scanned[{sku}]", f"must be 0 or more, got {units!r}")
        v.raise_if_any()
        self._parcel_id = parcel_id.strip()
        self._expected: Mapping[str, int] = MappingProxyType(dict(expected))
        # Zero counts carry nothing; dropping them keeps "scanned" equal however it was stored.
        self._scanned = {sku: units for sku, units in scanned.items() if units > 0}

    @property
    def parcel_id(self) -> str:
        return self._parcel_id

    @property
    def expected(self) -> Mapping[str, int]:
        """Units expected per SKU code (read only)."""
        return self._expected

    @property
    def scanned(self) -> Mapping[str, int]:
        """Units counted so far per SKU code, SKUs with none left out: what the store keeps."""
        return MappingProxyType(dict(self._scanned))

    @property
    def verified(self) -> bool:
        """Every expected unit scanned, nothing more: the parcel may be packed."""
        return all(row.missing == 0 and row.extra == 0 for row in self.difference())

    def difference(self) -> tuple[SkuDifference, ...]:
        """Expected against scanned for every SKU expected or scanned, by SKU code."""
        skus = sorted(self._expected.keys() | self._scanned.keys())
        return tuple(
            SkuDifference(sku, self._expected.get(sku, 0), self._scanned.get(sku, 0)) for sku in skus
        )

    def scan(self, barcode: str, *, known_skus: Set[str] | None = None) -> ScanOutcome:
        """Counts one unit of the item ``barcode`` stands for (LOG-3).

        ``known_skus`` is the catalogue: with it, a barcode of no known SKU is InvalidArgument
        (UNKNOWN_BARCODE, see ``sku_of_barcode``); without it, any barcode that is not one of the parcel's
        SKUs or their lot labels is a wrong item. A SKU the parcel does not hold is refused with reason
        WRONG_ITEM, and one unit beyond the expected count with EXTRA_ITEM: FailedPrecondition naming
        ``barcode`` whose message lists the difference, and nothing is counted.
        """
        code = barcode.strip()
        if not code:
            raise InvalidArgument.for_field("barcode", "is empty", reason=UNKNOWN_BARCODE)
        sku = self._sku_of(code, known_skus)
        expected = self._expected.get(sku, 0)
        if expected == 0:
            raise self._refusal(
                WRONG_ITEM, sku, f"{code!r} is {sku}, which parcel {self._parcel_id} does not hold"
            )
        scanned = self._scanned.get(sku, 0)
        if scanned >= expected:
            raise self._refusal(
                EXTRA_ITEM, sku, f"{code!r} is {sku}, of which parcel {self._parcel_id} holds only {expected}"
            )
        self._scanned[sku] = scanned + 1
        return ScanOutcome(
            barcode=code,
            sku_code=sku,
            scanned=scanned + 1,
            expected=expected,
            parcel_missing=sum(row.missing for row in self.difference()),
            verified=self.verified,
        )

    def require_verified(self) -> None:
        """FailedPrecondition (reason NOT_VERIFIED) naming ``parcel_id`` and listing what is missing or extra,
        unless the parcel is verified: only a verified parcel is packed (LOG-3)."""
        if self.verified:
            return
        off = [row for row in self.difference() if row.missing or row.extra]
        raise FailedPrecondition.for_field(
            "parcel_id",
            f"parcel {self._parcel_id} is not verified ({describe_difference(off)})",
            reason=NOT_VERIFIED,
        )

    def _sku_of(self, code: str, known_skus: Set[str] | None) -> str:
        """The SKU of a non-empty barcode; the parcel's own SKUs are always known."""
        parcel_skus = self._expected.keys() | self._scanned.keys()
        if known_skus is not None:
            return sku_of_barcode(code, parcel_skus | known_skus)
        try:
            return sku_of_barcode(code, parcel_skus)
        except InvalidArgument:
            # Without a catalogue, what is not of this parcel is a wrong item; name it as best we can.
            lot = LOT_LABEL.fullmatch(code)
            return lot["sku"] if lot is not None else code

    def _refusal(self, reason: str, sku: str, what: str) -> FailedPrecondition:
        description = f"{what}; nothing counted ({describe_difference(self.difference())})"
        return FailedPrecondition(
            f"barcode: {description}",
            violations=[FieldViolation("barcode", description)],
            reason=reason,
            metadata={"sku_code": sku, "parcel_id": self._parcel_id},
        )


def _is_count(units: object) -> bool:
    # bool is an int subclass, but True is not a unit count.
    return isinstance(units, int) and not isinstance(units, bool)


def _check_sku(v: Violations, field_path: str, sku: str) -> None:
    v.require(bool(sku) and sku == sku.strip(), field_path, "a SKU code is required, without spaces around")
