"""``python -m services.logistics [serve [--migrate] | migrate]``

Carriers and freight (LOG-7) are served; the shipment RPCs answer UNIMPLEMENTED until the service's
next slices implement them.
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
from services.logistics.store.tables import kit

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


def build(database: Database) -> Servicers:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        logistics_pb2_grpc.add_LogisticsServiceServicer_to_server(LogisticsServicer(database), server)
        return [SERVICE_NAME]

    return Servicers(register, Claims(database, kit.idempotency))


if __name__ == "__main__":
    main("logistics", migrations_dir=MIGRATIONS, parts=ServiceParts(build=build, kit=kit))
