"""INV-10 for a batch: first come first served, each order all or nothing (``serve_in_turn``)."""

from __future__ import annotations

from services.inventory.domain.reservations import Line, ReservationRequest, serve_in_turn
from services.inventory.domain.stock import StockLevel


def request(order_id: str, *lines: tuple[str, int]) -> ReservationRequest:
    return ReservationRequest(order_id, "MAIN", tuple(Line(s, q) for s, q in sorted(lines)))


LEVELS = {
    ("A", "MAIN"): StockLevel("A", "MAIN", on_hand=10, reserved=2, held=1, sellable=True),
    ("B", "MAIN"): StockLevel("B", "MAIN", on_hand=3, reserved=0, held=0, sellable=True),
}


def test_orders_are_served_in_turn_and_a_refused_order_takes_nothing_inv_10():
    outcomes = serve_in_turn(
        [
            request("1", ("A", 5), ("B", 1)),
            request("2", ("A", 1), ("B", 3)),
            request("3", ("A", 2), ("B", 2)),
        ],
        LEVELS,
    )
    assert outcomes[0] is None and outcomes[2] is None
    refused = outcomes[1]
    assert refused is not None and refused.reason == "INSUFFICIENT_STOCK"
    assert [v.field for v in refused.violations] == ["lines[1].quantity"]
    # The shortage reports the level as the earlier orders of the batch left it.
    assert "available 2, on hand 3, reserved 1, held 0" in refused.message


def test_a_sku_without_a_stock_level_has_nothing():
    (outcome,) = serve_in_turn([request("1", ("NEW", 1))], LEVELS)
    assert outcome is not None and "available 0" in outcome.message


def test_a_later_smaller_order_fits_where_an_earlier_larger_one_did_not():
    outcomes = serve_in_turn([request("1", ("A", 8)), request("2", ("A", 7))], LEVELS)
    assert outcomes[0] is not None and outcomes[1] is None
