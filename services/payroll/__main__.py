"""``python -m services.payroll [serve [--migrate] | migrate]``

The service owns its database and serves health and reflection; its contract (PayrollService in
protos/shop/payroll/v1) is published through reflection, and its RPCs answer UNIMPLEMENTED until the
service's first business slice implements them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc
from shop.payroll.v1 import payroll_pb2

from libs.db import Database
from libs.grpc_server import Servicers
from libs.service_main import ServiceParts, main
from services.payroll.store.tables import kit

MIGRATIONS = Path(__file__).parent / "store" / "migrations"
CONTRACT = payroll_pb2.DESCRIPTOR.services_by_name["PayrollService"].full_name


def build(database: Database) -> Servicers:
    def register(server: grpc.aio.Server) -> Sequence[str]:
        return []

    return Servicers(register)


if __name__ == "__main__":
    main("payroll", migrations_dir=MIGRATIONS, parts=ServiceParts(build=build, kit=kit, contracts=[CONTRACT]))
