"""What the parts of OrdersService share: the full view of an order, and changing one by a command."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from shop.orders.v1 import orders_pb2 as pb

from libs import identity
from libs.db import Database
from libs.money import money
from libs.telemetry import set_attributes
from services.orders.api.convert import order_to_pb
from services.orders.domain.order import Order
from services.orders.store import order_repository, orders, promotions

#: A command run on an order by ``actor`` at a time.
Command = Callable[[Order, str, datetime], object]


def now() -> datetime:
    """The time a change is made at."""
    return datetime.now(UTC)


class OrdersApiBase:
    """Mixed into OrdersServicer, below the parts that change and show orders."""

    db: Database

    async def _full(self, order_id: str, *, field: str = "order_id") -> pb.Order:
        """The order as the contract shows it: with its timeline, amendments and promotions."""
        return await self._shown(await self._visible(order_id, field=field))

    async def _visible(self, order_id: str, *, field: str = "order_id") -> Order:
        """The order, if the caller may see it: an integrator sees only its own shops' and channels'
        orders, and another's id is NOT_FOUND, as if it did not exist."""
        async with self.db.connection() as conn:
            order = await order_repository.load(conn, order_id, lock=False)
        identity.require_shop(order.shop_code, field=field, channel=order.channel.value)
        return order

    async def _shown(self, order: Order) -> pb.Order:
        """``order`` as the contract shows it, with its stored timeline and the promotions it used."""
        async with self.db.connection() as conn:
            timeline = await orders.timeline(conn, order.order_id)
            used = await promotions.uses_of_order(conn, order.order_id)
        out = order_to_pb(order, timeline)
        for use in used:
            out.promotions.append(
                pb.AppliedPromotion(promotion_id=use.promotion_id, discount=money(use.discount_fen))
            )
        return out

    async def _change(self, order_id: str, command: Command) -> pb.Order:
        """Runs ``command`` on the order, for the caller, and saves what it changed in one transaction;
        returns the order as it is then."""
        caller = identity.current()
        set_attributes(order_id=order_id)
        async with self.db.transaction() as conn:
            order = await order_repository.load(conn, order_id, lock=True)
            identity.require_shop(order.shop_code, field="order_id", channel=order.channel.value, of=caller)
            command(order, caller.subject, now())
            await order_repository.save(conn, order)
        return await self._shown(order)
