"""The orders contract's enums and the domain enums they carry are paired by name, each value both ways."""

from __future__ import annotations

from typing import Any

import pytest

from libs.enums import EnumCodec
from libs.errors import InvalidArgument
from services.orders.api.enums import CHANNEL, ORDER_STATUS, PROMOTION_KIND

CODECS: list[EnumCodec[Any, Any]] = [CHANNEL, ORDER_STATUS, PROMOTION_KIND]


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: c.descriptor.name)
def test_every_domain_value_travels_as_its_contract_value_and_back(codec: EnumCodec[Any, Any]) -> None:
    numbers = [value.number for value in codec.descriptor.values if value.number]
    members = [codec.from_pb(number, field="f") for number in numbers]
    assert sorted(codec.to_pb(m) for m in members) == sorted(numbers)
    assert len(set(members)) == len(numbers)


def test_an_unset_or_unknown_contract_value_is_refused_naming_the_field() -> None:
    for number in (0, 99):
        with pytest.raises(InvalidArgument) as refused:
            CHANNEL.from_pb(number, field="channel")
        assert [v.field for v in refused.value.violations] == ["channel"]
    assert CHANNEL.from_pb_or_none(0, field="channel") is None
