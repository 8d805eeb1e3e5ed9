"""The transfer aggregate without a database (INV-12): requested -> in transit -> received, or requested ->
cancelled; every command in every status, allowed and refused."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from libs.errors import FailedPrecondition, InvalidArgument, NotFound
from services.inventory.domain.lots import LotStock, TakenLot
from services.inventory.domain.stock import MovementKind
from services.inventory.domain.transfers import Transfer, TransferStatus, transfer_request

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
OLD_LOT, NEW_LOT = uuid.UUID(int=1), uuid.UUID(int=2)
STOCK = {
    "TEA": [
        LotStock(NEW_LOT, "TEA-NEW", "TEA", "MAIN", "A-01", NOW, 10),
        LotStock(OLD_LOT, "TEA-OLD", "TEA", "MAIN", "", NOW - timedelta(days=3), 6),
    ]
}


def requested(quantity: int = 8) -> Transfer:
    wanted = transfer_request("MAIN", "SH-2", [("TEA", quantity)])
    return Transfer.request(wanted, transfer_id="t-1", unknown_skus=set(), actor="keeper-b", now=NOW)


def saved(transfer: Transfer) -> Transfer:
    """The transfer as its repository leaves it after saving: nothing pending."""
    transfer.take_postings()
    transfer.take_events()
    return transfer


def in_transit() -> Transfer:
    transfer = requested()
    transfer.ship(STOCK, actor="keeper-a", now=NOW)
    return saved(transfer)


def received() -> Transfer:
    transfer = in_transit()
    transfer.receive(actor="keeper-b", now=NOW)
    return saved(transfer)


def cancelled() -> Transfer:
    transfer = requested()
    transfer.cancel()
    return saved(transfer)


TRANSFERS: dict[TransferStatus, Callable[[], Transfer]] = {
    TransferStatus.REQUESTED: requested,
    TransferStatus.IN_TRANSIT: in_transit,
    TransferStatus.RECEIVED: received,
    TransferStatus.CANCELLED: cancelled,
}
COMMANDS: dict[str, Callable[[Transfer], None]] = {
    "ship": lambda t: t.ship(STOCK, actor="keeper-a", now=NOW),
    # Received by another keeper than the shipping one, so only the status decides.
    "receive": lambda t: t.receive(actor="keeper-b", now=NOW),
    "cancel": lambda t: t.cancel(),
}
ALLOWED = {
    (TransferStatus.REQUESTED, "ship"): TransferStatus.IN_TRANSIT,
    (TransferStatus.REQUESTED, "cancel"): TransferStatus.CANCELLED,
    (TransferStatus.IN_TRANSIT, "receive"): TransferStatus.RECEIVED,
}


def test_the_builders_reach_every_status() -> None:
    assert {status: build().status for status, build in TRANSFERS.items()} == {s: s for s in TransferStatus}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("status", list(TransferStatus))
def test_inv_12_every_status_by_every_command(status: TransferStatus, command: str) -> None:
    """INV-12: requested -> in transit -> received; only a requested transfer may be cancelled."""
    transfer = TRANSFERS[status]()
    after = ALLOWED.get((status, command))
    if after is not None:
        COMMANDS[command](transfer)
        assert transfer.status is after
        return
    with pytest.raises(FailedPrecondition) as refused:
        COMMANDS[command](transfer)
    assert refused.value.reason == "TRANSFER_STATE"
    assert refused.value.violations[0].field == "transfer_id"
    assert f"a {status.value} transfer cannot become" in refused.value.message
    assert transfer.status is status
    assert transfer.pending_postings == ()


def test_inv_12_a_request_moves_nothing() -> None:
    transfer = requested()
    assert (transfer.status, transfer.requested_by, transfer.requested_at) == (
        TransferStatus.REQUESTED,
        "keeper-b",
        NOW,
    )
    assert transfer.pending_postings == () and transfer.pending_events == ()


def test_inv_12_shipping_takes_the_oldest_lots_out_and_signs() -> None:
    """INV-12 with INV-11: the sending keeper ships and signs; the oldest lot leaves first and the units
    are in transit, in neither warehouse."""
    transfer = requested()
    transfer.ship(STOCK, actor="keeper-a", now=NOW)
    assert (transfer.shipped_by, transfer.shipped_at) == ("keeper-a", NOW)
    [posting] = transfer.take_postings()
    assert posting.actor == "keeper-a"
    assert [(m.kind, m.warehouse_code, m.lot_id, m.bin_code, m.on_hand_delta) for m in posting.movements] == [
        (MovementKind.TRANSFER_OUT, "MAIN", OLD_LOT, "", -6),
        (MovementKind.TRANSFER_OUT, "MAIN", NEW_LOT, "A-01", -2),
    ]
    assert transfer.travelling == (TakenLot("TEA", OLD_LOT, 6), TakenLot("TEA", NEW_LOT, 2))


def test_inv_12_shipping_more_than_the_lots_hold_is_refused() -> None:
    transfer = requested(quantity=17)
    with pytest.raises(FailedPrecondition) as refused:
        transfer.ship(STOCK, actor="keeper-a", now=NOW)
    assert (refused.value.reason, refused.value.violations[0].field) == (
        "INSUFFICIENT_STOCK",
        "lines[0].quantity",
    )
    assert transfer.status is TransferStatus.REQUESTED


def test_inv_12_the_receiving_keeper_signs_and_the_same_lots_arrive() -> None:
    transfer = in_transit()
    transfer.receive(actor="keeper-b", now=NOW)
    assert (transfer.received_by, transfer.received_at) == ("keeper-b", NOW)
    [posting] = transfer.take_postings()
    assert [(m.kind, m.warehouse_code, m.lot_id, m.bin_code, m.on_hand_delta) for m in posting.movements] == [
        (MovementKind.TRANSFER_IN, "SH-2", OLD_LOT, "", 6),
        (MovementKind.TRANSFER_IN, "SH-2", NEW_LOT, "", 2),
    ]


def test_inv_12_the_shipping_keeper_cannot_also_sign_the_arrival() -> None:
    transfer = in_transit()
    with pytest.raises(FailedPrecondition) as refused:
        transfer.receive(actor="keeper-a", now=NOW)
    assert (refused.value.reason, refused.value.violations[0].field) == ("SAME_SIGNER", "signature")
    assert transfer.status is TransferStatus.IN_TRANSIT


def test_inv_12_requests_are_validated_and_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as same_place:
        transfer_request("MAIN", "MAIN", [("TEA", 1)])
    assert same_place.value.violations[0].field == "to_warehouse_code"
    wanted = transfer_request("MAIN", "SH-2", [("TEA", 1), ("NOPE", 1)])
    with pytest.raises(NotFound) as unknown:
        Transfer.request(wanted, transfer_id="t", unknown_skus={"NOPE"}, actor="k", now=NOW)
    assert unknown.value.violations[0].field == "lines[0].sku_code"  # lines are merged and sorted by SKU
