"""The change feed's cursor (INV-10): opaque to readers, exact for the feed, refused when made up."""

from __future__ import annotations

import pytest

from libs.errors import InvalidArgument
from services.inventory.store.stock_changes import Cursor


@pytest.mark.parametrize(
    "cursor", [Cursor(0, 0), Cursor(1, 1), Cursor(2**63 + 5, 2**62), Cursor(740, 12_345)]
)
def test_a_cursor_survives_its_token(cursor):
    token = cursor.token()
    assert token.isascii() and "=" not in token and "/" not in token and "+" not in token
    assert Cursor.parse(token) == cursor


def test_an_empty_cursor_is_the_start():
    assert Cursor.parse("") == Cursor(0, 0)


@pytest.mark.parametrize("token", ["x", "not a cursor!", Cursor(1, 2).token() + "AA"])
def test_a_made_up_cursor_is_refused_naming_the_field(token):
    with pytest.raises(InvalidArgument) as exc:
        Cursor.parse(token)
    assert exc.value.violations[0].field == "cursor"
