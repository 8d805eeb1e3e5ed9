"""A delivery's attempt number, read from the JetStream reply subject by hand (``Delivery.of``)."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.msg import Msg
from nats.errors import NotJSMessageError

from libs.subscriptions import Delivery


def msg(reply: str, headers: dict[str, str] | None = None) -> Msg:
    client: Any = None
    return Msg(client, subject="shop.orders.v1.order_released", reply=reply, data=b"x", headers=headers)


@pytest.mark.parametrize(
    ("reply", "attempt"),
    [
        # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
        ("$JS.ACK.SHOP_ORDERS.logistics-OrderReleased.1.5012.4998.1764633600000000000.120", 1),
        ("$JS.ACK.SHOP_ORDERS.logistics-OrderReleased.7.5012.5020.1764633600000000000.0", 7),
        # With a domain and an account hash, and a trailing token: nats-py's own parse.
        ("$JS.ACK.hub.ACCHASH.SHOP_ORDERS.logistics-OrderReleased.3.5012.4998.1764633600000000000.120.r", 3),
    ],
)
def test_the_attempt_is_how_often_the_broker_delivered_the_message(reply, attempt):
    delivery = Delivery.of(msg(reply, {"Nats-Msg-Id": "e1"}))
    assert delivery.attempt == attempt
    assert delivery.event_id == "e1"
    assert delivery.data == b"x"


def test_a_message_without_a_jetstream_reply_is_refused():
    with pytest.raises(NotJSMessageError):
        Delivery.of(msg("_INBOX.abc"))
