"""``python -m services.logistics [serve [--migrate] | migrate]``

Shipments of released orders in waves by cut-off (LOG-1), pick lists (LOG-2), the scanning station
(LOG-3), the packing bench (LOG-4), dispatch (LOG-5), and carriers with freight (LOG-7).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
from shop.logistics.v1 import logistics_pb2_grpc

from libs.db import Database
from libs.grpc_server import Servicers
from libs.policy import Claims
from libs.service_main import ServiceParts, main
from services.logistics.api.servicer import SERVICE_NAME, LogisticsServicer
from services.logistics.clients.inventory import InventoryClient
from services.logistics.consumers import subscriptions
from services.logistics.store.tables import kit
from services.logistics.workers import overdue_sweeper, wave_scheduler
from services.logistics.workflows.wave_close import WaveClosing

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(database: Database, inventory: InventoryClient | None = None) -> Servicers:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        closing = WaveClosing(database, inventory or InventoryClient())
        logistics_pb2_grpc.add_LogisticsServiceServicer_to_server(
            LogisticsServicer(database, closing), server
        )
        return [SERVICE_NAME]

    return Servicers(register, Claims(database, kit.idempotency))


if __name__ == "__main__":
    main(
        "logistics",
        migrations_dir=MIGRATIONS,
        parts=ServiceParts(
            build=build,
            kit=kit,
            subscriptions=subscriptions,
            workers=[wave_scheduler.run, overdue_sweeper.run],
        ),
    )
