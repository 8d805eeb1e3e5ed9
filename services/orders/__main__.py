"""``python -m services.orders [serve [--migrate] | migrate]``"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
from shop.orders.v1 import orders_pb2_grpc

from libs.db import Database
from libs.grpc_server import Servicers
from libs.policy import Claims
from libs.service_main import ServiceParts, main
from services.orders.api.servicer import SERVICE_NAME, OrdersServicer
from services.orders.clients.inventory import InventoryClient
from services.orders.clients.logistics import LogisticsClient
from services.orders.consumers import subscriptions
from services.orders.saga.reservation import ReservationSaga
from services.orders.store.tables import kit
from services.orders.workers import saga_recovery
from services.orders.workers.auto_review import auto_reviews
from services.orders.workers.rereview import rereviews

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(
    database: Database, inventory: InventoryClient | None = None, logistics: LogisticsClient | None = None
) -> Servicers:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        saga = ReservationSaga(database, inventory or InventoryClient())
        servicer = OrdersServicer(database, saga, logistics or LogisticsClient())
        orders_pb2_grpc.add_OrdersServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    return Servicers(register, Claims(database, kit.idempotency))


if __name__ == "__main__":
    main(
        "orders",
        migrations_dir=MIGRATIONS,
        parts=ServiceParts(
            build=build,
            kit=kit,
            subscriptions=subscriptions,
            workers=[saga_recovery.run, rereviews.run, auto_reviews.run],
        ),
    )
