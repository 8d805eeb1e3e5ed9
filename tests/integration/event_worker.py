"""A consumer process for the crash tests: runs the orders service's consumer of StockAvailable with a
handler that records each event in ``test_effects``.

    python -m tests.integration.event_worker <database url> --die-after-commit   # SIGKILL itself between
                                                                                  # the commit and the ack
    python -m tests.integration.event_worker <database url> --until-acked        # run until nothing is
                                                                                  # pending, then exit 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from shop.inventory.v1 import events_pb2 as inventory_events

from libs.db import Database
from libs.event_bus import EventBus
from libs.events import stream_name
from libs.subscriptions import Applier, EventConsumer, Subscriptions
from services.orders.store.tables import kit
from tests.integration.test_event_backbone import effects_handler


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(url: str, die_after_commit: bool) -> int:
    subscriptions = Subscriptions("orders")
    subscriptions.on(inventory_events.StockAvailable, after_commit=die if die_after_commit else None)(
        effects_handler()
    )
    database = Database(url)
    bus = EventBus("orders")
    stop = asyncio.Event()
    assert await bus.connect(stop)
    [subscription] = list(subscriptions)

    async def dead_letter(*_: object) -> None:
        raise AssertionError("nothing should be dead-lettered here")

    consumer = EventConsumer(bus, Applier(database, kit.inbox, subscription), dead_letter)
    task = asyncio.create_task(consumer.run(stop))
    try:
        for _ in range(600):
            await asyncio.sleep(0.1)
            info = await bus.js.consumer_info(stream_name("inventory"), subscription.durable)
            if info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq > 0:
                return 0
        return 1
    finally:
        stop.set()
        await task
        await bus.close()
        await database.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--die-after-commit", action="store_true")
    parser.add_argument("--until-acked", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.url, args.die_after_commit)))
