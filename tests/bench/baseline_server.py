"""The baseline of the order-flow benchmark: one unary gRPC call that writes one row to PostgreSQL.

Built from the same kit as the services (grpc.aio server, interceptors, async engine), so the ratio of the
order flow to it measures the flow's own cost, not the stack's.

    python -m tests.bench.baseline_server <database url> <port>
"""

from __future__ import annotations

import asyncio
import sys

import grpc
import sqlalchemy as sa
from shop.bench.v1 import baseline_pb2  # noqa: F401  (registers the contract and its policy)

from libs import config
from libs.db import Database
from libs.grpc_server import GrpcServer, Servicers

METHOD = "/shop.bench.v1.Baseline/Write"
SERVICE = "shop.bench.v1.Baseline"


async def serve(url: str, port: int) -> None:
    database = Database(url, pool_size=20, max_overflow=0)
    async with database.transaction() as conn:
        await conn.execute(
            sa.text("CREATE TABLE IF NOT EXISTS bench_rows (id bigserial PRIMARY KEY, body bytea)")
        )

    async def write(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        async with database.transaction() as conn:
            await conn.execute(sa.text("INSERT INTO bench_rows (body) VALUES (:b)"), {"b": request})
        return b"ok"

    def register(server: grpc.aio.Server) -> list[str]:
        handler = grpc.unary_unary_rpc_method_handler(write)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Write": handler}),))
        # Raw bytes in and out, so no request_id is ever claimed: the baseline stays one row per call.
        return []

    cfg = config.service_config("inventory")
    server = GrpcServer(cfg, Servicers(add=register))
    server.cfg = type(cfg)(**{**cfg.__dict__, "port": port})
    await server.serve_until_signalled()
    await database.dispose()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
