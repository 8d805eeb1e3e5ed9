"""``python -m services.inventory [serve [--migrate] | migrate]``"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
from shop.inventory.v1 import inventory_pb2_grpc

from libs.db import Database
from libs.grpc_server import Servicers
from libs.policy import Claims
from libs.service_main import ServiceParts, main
from services.inventory.api.servicer import SERVICE_NAME, InventoryServicer
from services.inventory.consumers import subscriptions
from services.inventory.store.tables import kit
from services.inventory.workers import hold_sweeper, stock_change_pruner

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(database: Database) -> Servicers:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        inventory_pb2_grpc.add_InventoryServiceServicer_to_server(InventoryServicer(database), server)
        return [SERVICE_NAME]

    return Servicers(register, Claims(database, kit.idempotency))


if __name__ == "__main__":
    main(
        "inventory",
        migrations_dir=MIGRATIONS,
        parts=ServiceParts(
            build=build,
            kit=kit,
            subscriptions=subscriptions,
            workers=[hold_sweeper.run, stock_change_pruner.run],
        ),
    )
