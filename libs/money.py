"""Money on the contracts: ``shop.common.v1.Money`` in fen (CNY minor units), never a float."""

from __future__ import annotations

from shop.common.v1 import money_pb2

from libs.errors import InvalidArgument

#: The suite's one currency; amounts are integer fen (1 yuan = 100 fen).
CURRENCY = "CNY"


def money(fen: int) -> money_pb2.Money:
    """``fen`` as a CNY Money."""
    return money_pb2.Money(currency_code=CURRENCY, amount_minor=fen)


def fen(value: money_pb2.Money, field: str) -> int:
    """Minor units of a Money field; an unset Money is 0, another currency is refused naming it."""
    if value.currency_code not in ("", CURRENCY):
        raise InvalidArgument.for_field(f"{field}.currency_code", f"must be {CURRENCY}")
    return value.amount_minor
