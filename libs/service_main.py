"""The command line every service shares: ``python -m services.<name> [serve [--migrate] | migrate]``.

``serve`` runs, beside the service's gRPC servicers and its own workers, what every service gets from the
kit: the outbox relay to NATS JetStream, one consumer per event subscription, the dead-letter service, the
pruning of the kit tables, and a database watch that turns the gRPC health NOT_SERVING while the database
is unreachable (and SERVING again when it is back).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from shop.ops.v1 import dead_letters_pb2, dead_letters_pb2_grpc

from libs import retention
from libs.config import ServiceConfig, service_config
from libs.db import Database, migrate
from libs.dead_letters import DeadLetterBox, DeadLetterServicer
from libs.event_bus import EventBus
from libs.grpc_server import GrpcServer, Servicers
from libs.kit_tables import KitTables
from libs.logs import setup_logging
from libs.outbox import OutboxRelay
from libs.policy import Claims
from libs.subscriptions import Applier, EventConsumer, Subscriptions
from libs.telemetry import setup_telemetry, shutdown_telemetry

log = logging.getLogger(__name__)

#: Builds what a service serves (its servicers and where their idempotency claims go), given its database.
Build = Callable[[Database], Servicers]
#: A background loop: runs until the event is set (sweepers, schedulers, follow-up work).
Worker = Callable[[Database, asyncio.Event], Coroutine[Any, Any, None]]

DEAD_LETTER_SERVICE = dead_letters_pb2.DESCRIPTOR.services_by_name["DeadLetterService"].full_name
DATABASE_WATCH_SECONDS = 1.0

#: Allocations (net of frees) between two collections of the youngest generation; CPython's default is 700.
#: A batch of events or a large call makes and drops hundreds of thousands of short-lived objects, and a
#: collection every 700 of them cost a quarter of the CPU of placing a wave's releases; at 10,000 the
#: collector runs a few times a second under load. Cycles are still collected, a little later.
GC_GEN0_THRESHOLD = 10_000


def tune_collector() -> None:
    """Sets the collector for a long-running server: the objects made at start-up (modules, protos,
    tables, compiled statements) are moved out of its sight (``gc.freeze``), so the oldest generation's
    collections do not walk them again and again, and the youngest is collected less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, middle, oldest)


async def watch_database(database: Database, server: GrpcServer, stop: asyncio.Event) -> None:
    """Keeps the gRPC health in step with the database: NOT_SERVING while it does not answer."""
    while not stop.is_set():
        await server.set_serving(await database.ping())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=DATABASE_WATCH_SECONDS)


@dataclass(frozen=True)
class ServiceParts:
    """What a service brings to the kit: its servicers (``build``), its tables, the events it handles,
    contracts it publishes before implementing them, and its own background workers."""

    build: Build
    kit: KitTables
    subscriptions: Subscriptions | None = None
    contracts: Sequence[str] = ()
    workers: Sequence[Worker] = ()


class ServiceRuntime:
    """One service process's serving parts: the gRPC server and the background work beside it.

    ``serve`` runs it until a signal; tests start and stop it in their own event loop.
    """

    def __init__(
        self,
        cfg: ServiceConfig,
        parts: ServiceParts,
        *,
        database: Database | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.database = database or Database(cfg.database_url)
        self.bus = bus or EventBus(cfg.name)
        self.kit = parts.kit
        self.appliers = [Applier(self.database, parts.kit.inbox, s) for s in parts.subscriptions or ()]
        self.dead_letters = DeadLetterBox(cfg.name, self.bus)
        self.workers = parts.workers
        self.relay = OutboxRelay(self.database, parts.kit.outbox, self.bus.publish_batch)
        served = parts.build(self.database)

        def register(server: grpc.aio.Server) -> Sequence[str]:
            names = list(served.add(server))
            dead_letters_pb2_grpc.add_DeadLetterServiceServicer_to_server(
                DeadLetterServicer(self.dead_letters, self.appliers), server
            )
            return [*names, DEAD_LETTER_SERVICE]

        claims = served.claims or Claims(self.database, parts.kit.idempotency)
        self.server = GrpcServer(cfg, Servicers(register, claims), contracts=parts.contracts)
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    def start_background(self) -> None:
        """Connects the event bus and starts the relay, the consumers, pruning and the workers."""
        stop = self.stopping
        jobs = [
            self.bus.connect(stop),
            self.relay.run_forever(stop, bus_ready=self.bus.wait_ready),
            *(EventConsumer(self.bus, a, self.dead_letters.put).run(stop) for a in self.appliers),
            retention.run(self.database, self.kit, stop),
            *(worker(self.database, stop) for worker in self.workers),
        ]
        self._tasks = [asyncio.create_task(job) for job in jobs]

    def watch_database(self) -> None:
        """Once the server serves: keep its health in step with the database."""
        self._tasks.append(asyncio.create_task(watch_database(self.database, self.server, self.stopping)))

    async def start(self, address: str | None = None) -> int:
        """Starts everything (``host:0`` picks a free port); returns the port."""
        self.start_background()
        port = await self.server.start(address)
        self.watch_database()
        return port

    async def stop_background(self) -> None:
        """Stops the background work, then closes the event bus and the database pool."""
        self.stopping.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bus.close()
        await self.database.dispose()

    async def stop(self, grace: float | None = None) -> None:
        await self.server.stop(grace)
        await self.stop_background()


async def serve(cfg: ServiceConfig, parts: ServiceParts) -> None:
    """Serves until SIGTERM/SIGINT, then drains calls in flight, stops the background work and closes the
    event bus and the database pool, in that order."""
    runtime = ServiceRuntime(cfg, parts)
    tune_collector()
    runtime.start_background()
    started = asyncio.Event()

    async def watch_when_started() -> None:
        await started.wait()
        runtime.watch_database()

    watcher = asyncio.create_task(watch_when_started())
    try:
        await runtime.server.serve_until_signalled(started)
    finally:
        watcher.cancel()
        await runtime.stop_background()


def main(name: str, *, migrations_dir: Path, parts: ServiceParts, argv: list[str] | None = None) -> None:
    """Runs the service's command line."""
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
        asyncio.run(serve(cfg, parts))
    finally:
        shutdown_telemetry()
