"""The command line every service shares: ``python -m services.<name> [serve [--migrate] | migrate]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import grpc

from libs.config import ServiceConfig, service_config
from libs.db import Database, migrate
from libs.grpc_server import GrpcServer
from libs.logs import setup_logging
from libs.telemetry import setup_telemetry, shutdown_telemetry

log = logging.getLogger(__name__)

Register = Callable[[grpc.aio.Server], Sequence[str]]
#: Builds the function that adds a service's servicers to a server, given its database.
Build = Callable[[Database], Register]
#: A background loop: runs until the event is set (outbox relays, sweepers, schedulers).
Worker = Callable[[Database, asyncio.Event], Coroutine[Any, Any, None]]


async def serve(
    cfg: ServiceConfig, build: Build, *, contracts: Sequence[str] = (), workers: Sequence[Worker] = ()
) -> None:
    """Serves until SIGTERM/SIGINT with the service's workers beside it, then stops the workers, drains
    calls in flight and closes the database pool."""
    database = Database(cfg.database_url)
    server = GrpcServer(cfg, build(database), contracts=contracts)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker(database, stop)) for worker in workers]
    try:
        await server.serve_until_signalled()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await database.dispose()


def main(
    name: str,
    *,
    migrations_dir: Path,
    build: Build,
    contracts: Sequence[str] = (),
    workers: Sequence[Worker] = (),
    argv: list[str] | None = None,
) -> None:
    """Runs the service's command line. ``contracts`` are service names published through reflection
    before the service implements them."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="serve gRPC until SIGTERM (the default)")
    serve_cmd.add_argument("--migrate", action="store_true", help="apply migrations first")
    sub.add_parser("migrate", help="apply this service's database migrations and exit")
    args = parser.parse_args(argv)

    setup_logging(name)
    cfg = service_config(name)
    if args.command == "migrate" or getattr(args, "migrate", False):
        migrate(cfg.database_url, migrations_dir)
        log.info("migrations applied")
        if args.command == "migrate":
            return
    setup_telemetry(name)
    try:
        asyncio.run(serve(cfg, build, contracts=contracts, workers=workers))
    finally:
        shutdown_telemetry()
