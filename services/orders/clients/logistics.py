"""The logistics service as the orders service sees it: asking the warehouse to let a released order go."""

from __future__ import annotations

from shop.logistics.v1 import logistics_pb2 as pb
from shop.logistics.v1 import logistics_pb2_grpc

from libs import config, identity
from libs.grpc_client import call, open_channel


class LogisticsClient:
    """Withdrawal of a released order (ORD-5), idempotent at the logistics service."""

    def __init__(self, target: str | None = None) -> None:
        self.channel = open_channel(target or config.service_target("logistics"))
        self.stub = logistics_pb2_grpc.LogisticsServiceStub(self.channel)

    async def withdraw(self, order_id: str, reason: str, *, caller: identity.Identity) -> None:
        """Accepted while none of the order's parcels is packed; FailedPrecondition (ALREADY_PACKED) with
        the reason once one is; Unavailable when the warehouse cannot be asked."""
        await call(
            self.stub.WithdrawOrder,
            pb.WithdrawOrderRequest(order_id=order_id, reason=reason[:500]),
            caller=caller,
        )

    async def close(self) -> None:
        await self.channel.close()
