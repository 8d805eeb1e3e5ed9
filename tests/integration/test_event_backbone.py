"""The event backbone against real PostgreSQL and a real NATS JetStream server: outbox -> relay -> broker ->
durable consumer -> inbox, with de-duplication, redelivery, dead letters, replay and pruning."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import grpc
import pytest
import sqlalchemy as sa
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from shop.inventory.v1 import events_pb2 as inventory_events
from shop.ops.v1 import dead_letters_pb2 as dl
from shop.ops.v1 import dead_letters_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncConnection

from libs import config, retention
from libs.db import Database
from libs.event_bus import EventBus
from libs.events import DEAD_LETTER_STREAM, catalogue, stream_name
from libs.grpc_client import open_channel
from libs.grpc_server import Servicers
from libs.outbox import BusUnavailable, OutboxRelay, publish
from libs.service_main import ServiceParts, ServiceRuntime
from libs.subscriptions import Applier, Delivery, Received, Subscriptions
from services.inventory.store.tables import kit as inventory_kit
from services.orders.store.tables import kit as orders_kit
from tests.conftest import REPO, auth

STREAM = stream_name("inventory")
STREAM_SUBJECT = catalogue().of(inventory_events.StockAvailable).subject


def stock_available(sku: str, added: int = 1) -> inventory_events.StockAvailable:
    return inventory_events.StockAvailable(
        warehouse_code="MAIN",
        lines=[inventory_events.StockAvailable.Line(sku_code=sku, added=added, available=added)],
        document_type="receipt",
        document_id=f"rc-{sku}",
    )


async def count(db: Database, query: str) -> int:
    async with db.connection() as conn:
        return int((await conn.execute(sa.text(query))).scalar_one())


async def eventually(check: Callable[[], object], *, within: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} not reached within {within} s")


@pytest.fixture
async def bus(nats_server) -> AsyncIterator[EventBus]:
    connected = EventBus("tests", nats_server.url)
    assert await connected.connect(asyncio.Event())
    try:
        yield connected
    finally:
        await connected.close()


@pytest.fixture
async def orders_db(fresh_database) -> AsyncIterator[Database]:
    database = Database(fresh_database("orders"))
    async with database.transaction() as conn:
        # The effect of the test handlers: one row per applied event, so a second effect is a second row.
        await conn.execute(
            sa.text(
                "CREATE TABLE test_effects (n serial PRIMARY KEY, event_id uuid NOT NULL, sku text NOT NULL)"
            )
        )
    try:
        yield database
    finally:
        await database.dispose()


def effects_handler(poison: set[str] | None = None):
    """A handler that records each event's SKUs, and refuses the SKUs in ``poison`` (while they are)."""

    async def handle(
        conn: AsyncConnection, events: Sequence[Received[inventory_events.StockAvailable]]
    ) -> None:
        for received in events:
            for line in received.event.lines:
                if poison and line.sku_code in poison:
                    raise ValueError(f"cannot apply {line.sku_code}")
                await conn.execute(
                    sa.text("INSERT INTO test_effects (event_id, sku) VALUES (:e, :s)"),
                    {"e": received.event_id, "s": line.sku_code},
                )

    return handle


async def start_orders_runtime(
    database: Database, nats_url: str, subscriptions: Subscriptions
) -> tuple[ServiceRuntime, int]:
    """The orders process's kit (relay, consumers, dead-letter service) over the test's database."""

    def build(_: Database) -> Servicers:
        return Servicers(lambda server: [])

    runtime = ServiceRuntime(
        config.service_config("orders"),
        ServiceParts(build=build, kit=orders_kit, subscriptions=subscriptions),
        database=database,
        bus=EventBus("orders", nats_url),
    )
    port = await runtime.start("127.0.0.1:0")
    return runtime, port


# --- the relay -------------------------------------------------------------------------------------------


async def test_relay_publishes_with_event_id_and_trace_and_marks_delivered_after_the_ack(
    inventory_db, bus, span_exporter
):
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("post receipt") as span:
        async with inventory_db.transaction() as conn:
            event_id = await publish(conn, inventory_kit.outbox, "SKU-1", stock_available("SKU-1"))
        writer_trace = format(span.get_span_context().trace_id, "032x")

    relay = OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch)
    assert await relay.run_once() == 1
    assert await relay.run_once() == 0
    stored = await bus.js.get_msg(STREAM, seq=1)
    assert stored.subject == "shop.inventory.v1.stock_available"
    assert stored.headers["Nats-Msg-Id"] == str(event_id)
    assert stored.headers["Shop-Event-Type"] == "shop.inventory.v1.StockAvailable"
    assert stored.headers["traceparent"].split("-")[1] == writer_trace
    assert inventory_events.StockAvailable.FromString(stored.data).lines[0].sku_code == "SKU-1"
    assert await count(inventory_db, "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL") == 1


async def test_nothing_is_marked_delivered_while_the_broker_is_down(inventory_db, nats_server, bus):
    nats_server.stop()
    async with inventory_db.transaction() as conn:
        for i in range(5):
            await publish(conn, inventory_kit.outbox, f"SKU-{i}", stock_available(f"SKU-{i}"))
    relay = OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch)
    with pytest.raises(BusUnavailable):
        await relay.run_once()
    assert (
        await count(inventory_db, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND attempts = 0")
        == 5
    )

    nats_server.start()  # the same store: the broker comes back with its streams
    await eventually(lambda: bus.ready, what="reconnection")

    async def drained() -> bool:
        try:
            await relay.run_once()
        except BusUnavailable:
            return False
        return await count(inventory_db, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 0

    await eventually(drained, within=30, what="every event delivered")
    info = await bus.js.stream_info(STREAM)
    assert info.state.messages == 5


async def test_an_event_published_twice_is_stored_once(inventory_db, bus):
    """The relay crashed between the broker's ack and marking the row: the row is published again, and the
    broker drops the copy by its Nats-Msg-Id."""
    async with inventory_db.transaction() as conn:
        await publish(conn, inventory_kit.outbox, "SKU-1", stock_available("SKU-1"))
    relay = OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch)
    assert await relay.run_once() == 1
    async with inventory_db.transaction() as conn:
        await conn.execute(inventory_kit.outbox.update().values(delivered_at=None))
    assert await relay.run_once() == 1
    assert (await bus.js.stream_info(STREAM)).state.messages == 1


async def test_relay_replicas_share_the_outbox_without_publishing_an_event_twice(inventory_db, bus):
    async with inventory_db.transaction() as conn:
        for i in range(60):
            await publish(conn, inventory_kit.outbox, f"SKU-{i}", stock_available(f"SKU-{i}"))
    relays = [
        OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch, batch_size=7) for _ in range(4)
    ]
    published: list[int] = []

    async def drain(relay: OutboxRelay) -> None:
        while n := await relay.run_once():
            published.append(n)

    await asyncio.gather(*(drain(r) for r in relays))
    assert sum(published) == 60
    assert (await bus.js.stream_info(STREAM)).state.messages == 60


# --- consumers ---------------------------------------------------------------------------------------------


async def test_events_reach_the_consumer_once_each_across_the_broker(
    inventory_db, orders_db, nats_server, bus
):
    subscriptions = Subscriptions("orders")
    subscriptions.on(inventory_events.StockAvailable)(effects_handler())
    runtime, _ = await start_orders_runtime(orders_db, nats_server.url, subscriptions)
    relay = OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch)
    try:
        for batch in range(5):
            async with inventory_db.transaction() as conn:
                for i in range(20):
                    await publish(conn, inventory_kit.outbox, "x", stock_available(f"SKU-{batch}-{i}"))
            while await relay.run_once():
                pass
        # The same event again, as a broker past its duplicate window would deliver it: one effect still.
        async with inventory_db.transaction() as conn:
            await conn.execute(inventory_kit.outbox.update().values(delivered_at=None))
        first = (await bus.js.get_msg(STREAM, seq=1)).headers
        await bus.js.publish(
            "shop.inventory.v1.stock_available",
            stock_available("SKU-0-0").SerializeToString(),
            headers={**first, "Nats-Msg-Id": first["Nats-Msg-Id"]},
        )
        await eventually(
            lambda: count(orders_db, "SELECT count(*) FROM inbox"), what="the consumer to apply events"
        )

        async def all_acked() -> bool:
            info = await bus.js.consumer_info(STREAM, "orders-stock_available")
            return info.num_pending == 0 and info.num_ack_pending == 0

        await eventually(all_acked, what="every message acknowledged")
        assert await count(orders_db, "SELECT count(*) FROM test_effects") == 100
        assert await count(orders_db, "SELECT count(DISTINCT event_id) FROM test_effects") == 100
        assert await count(orders_db, "SELECT count(*) FROM inbox") == 100
    finally:
        await runtime.stop(0)


async def test_consumer_killed_after_commit_before_ack_applies_the_event_once(
    inventory_db, orders_db, nats_server, bus, tmp_path
):
    """SIGKILL between the inbox commit and the acknowledgement: the broker redelivers to the next
    consumer process, whose inbox recognises the event."""
    async with inventory_db.transaction() as conn:
        await publish(conn, inventory_kit.outbox, "SKU-1", stock_available("SKU-1"))
    assert await OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch).run_once() == 1

    env = {**os.environ, "SHOP_EVENT_ACK_WAIT_SECONDS": "2", "SHOP_NATS_URL": nats_server.url}
    worker = [sys.executable, "-m", "tests.integration.event_worker", orders_db.url]
    killed = await asyncio.to_thread(
        subprocess.run, [*worker, "--die-after-commit"], cwd=REPO, env=env, timeout=60, check=False
    )
    assert killed.returncode == -signal.SIGKILL
    assert await count(orders_db, "SELECT count(*) FROM test_effects") == 1  # committed, never acknowledged
    info = await bus.js.consumer_info(STREAM, "orders-stock_available")
    assert info.num_ack_pending == 1

    survivor = await asyncio.to_thread(
        subprocess.run, [*worker, "--until-acked"], cwd=REPO, env=env, timeout=60, check=False
    )
    assert survivor.returncode == 0
    info = await bus.js.consumer_info(STREAM, "orders-stock_available")
    assert info.num_ack_pending == 0
    assert (info.delivered.stream_seq, info.delivered.consumer_seq) == (1, 2)  # one event, delivered twice
    assert await count(orders_db, "SELECT count(*) FROM test_effects") == 1


async def test_poison_event_is_dead_lettered_without_blocking_the_rest_and_replays_once(
    inventory_db, orders_db, nats_server, bus, monkeypatch
):
    monkeypatch.setenv("SHOP_EVENT_MAX_ATTEMPTS", "3")
    poison = {"BAD-1"}
    subscriptions = Subscriptions("orders")
    subscriptions.on(inventory_events.StockAvailable)(effects_handler(poison))
    runtime, port = await start_orders_runtime(orders_db, nats_server.url, subscriptions)
    channel = open_channel(f"127.0.0.1:{port}", traced=False)
    stub = dead_letters_pb2_grpc.DeadLetterServiceStub(channel)
    sre = auth("sre")
    try:
        async with inventory_db.transaction() as conn:
            await publish(conn, inventory_kit.outbox, "a", stock_available("GOOD-1"))
            bad_id = await publish(conn, inventory_kit.outbox, "b", stock_available("BAD-1"))
        async with inventory_db.transaction() as conn:
            for i in range(2, 6):
                await publish(conn, inventory_kit.outbox, "c", stock_available(f"GOOD-{i}"))
        relay = OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch)
        while await relay.run_once():
            pass

        # The events behind the poison one are applied at once, not after its attempts.
        async def good_applied() -> bool:
            return await count(orders_db, "SELECT count(*) FROM test_effects WHERE sku LIKE 'GOOD-%'") == 5

        await eventually(good_applied, within=5, what="the good events")

        async def dead_lettered() -> bool:
            info = await bus.js.stream_info(DEAD_LETTER_STREAM)
            return info.state.messages == 1

        await eventually(dead_lettered, what="the poison event in the dead-letter stream")
        listing = await stub.ListDeadLetters(dl.ListDeadLettersRequest(), metadata=sre)
        [letter] = listing.dead_letters
        assert letter.event_id == str(bad_id)
        assert letter.consumer == "orders-stock_available"
        assert letter.subject == "shop.inventory.v1.stock_available"
        assert letter.attempts == 3
        assert "cannot apply BAD-1" in letter.error
        assert '"sku_code": "BAD-1"' in letter.event_json

        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ReplayDeadLetter(dl.ReplayDeadLetterRequest(sequence=letter.sequence), metadata=sre)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "cannot apply BAD-1" in (refused.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stub.ListDeadLetters(dl.ListDeadLettersRequest(), metadata=auth("supervisor"))
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED

        poison.clear()  # the fix
        replayed = await stub.ReplayDeadLetter(
            dl.ReplayDeadLetterRequest(sequence=letter.sequence), metadata=sre
        )
        assert replayed.applied
        assert await count(orders_db, "SELECT count(*) FROM test_effects WHERE sku = 'BAD-1'") == 1
        assert (await stub.ListDeadLetters(dl.ListDeadLettersRequest(), metadata=sre)).dead_letters == []
        with pytest.raises(grpc.aio.AioRpcError) as gone:
            await stub.ReplayDeadLetter(dl.ReplayDeadLetterRequest(sequence=letter.sequence), metadata=sre)
        assert gone.value.code() == grpc.StatusCode.NOT_FOUND
        assert await count(orders_db, "SELECT count(*) FROM test_effects WHERE sku = 'BAD-1'") == 1
    finally:
        await channel.close()
        await runtime.stop(0)


async def test_dead_letter_listing_pages_and_names_bad_tokens(orders_db, nats_server, bus):
    subscriptions = Subscriptions("orders")
    subscriptions.on(inventory_events.StockAvailable)(effects_handler())
    runtime, port = await start_orders_runtime(orders_db, nats_server.url, subscriptions)
    await eventually(lambda: runtime.bus.ready, what="the bus")
    for i in range(5):
        await bus.js.publish(
            "shop.dead_letter.orders.shop.inventory.v1.stock_available",
            stock_available(f"X-{i}").SerializeToString(),
            headers={
                "Nats-Msg-Id": f"{uuid.uuid4()}:orders-stock_available",
                "Shop-Dead-Letter-Attempts": "6",
            },
        )
    await bus.js.publish("shop.dead_letter.inventory.shop.orders.v1.x", b"", headers={"Nats-Msg-Id": "other"})
    channel = open_channel(f"127.0.0.1:{port}", traced=False)
    stub = dead_letters_pb2_grpc.DeadLetterServiceStub(channel)
    try:
        first = await stub.ListDeadLetters(dl.ListDeadLettersRequest(page_size=3), metadata=auth("sre"))
        assert len(first.dead_letters) == 3 and first.next_page_token
        rest = await stub.ListDeadLetters(
            dl.ListDeadLettersRequest(page_size=3, page_token=first.next_page_token), metadata=auth("sre")
        )
        assert len(rest.dead_letters) == 2 and not rest.next_page_token  # inventory's letter is not ours
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.ListDeadLetters(dl.ListDeadLettersRequest(page_token="zz"), metadata=auth("sre"))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "page_token" in (bad.value.details() or "")
    finally:
        await channel.close()
        await runtime.stop(0)


# --- retention ---------------------------------------------------------------------------------------------


async def test_pruning_removes_old_delivered_outbox_rows_and_old_inbox_rows_only(inventory_db):
    async with inventory_db.transaction() as conn:
        for i in range(4):
            await publish(conn, inventory_kit.outbox, f"SKU-{i}", stock_available(f"SKU-{i}"))
        await conn.execute(
            sa.text(
                "UPDATE outbox SET delivered_at = now() - interval '2 days' "
                "WHERE event_id IN (SELECT event_id FROM outbox ORDER BY created_at LIMIT 2)"
            )
        )
        await conn.execute(
            sa.text(
                "UPDATE outbox SET delivered_at = now() - interval '1 hour' WHERE delivered_at IS NULL "
                "AND event_id IN (SELECT event_id FROM outbox WHERE delivered_at IS NULL LIMIT 1)"
            )
        )
        await conn.execute(
            sa.text(
                "INSERT INTO inbox (event_id, topic, received_at) VALUES "
                "(gen_random_uuid(), 't', now() - interval '20 days'), (gen_random_uuid(), 't', now())"
            )
        )
    pruned = await retention.prune_once(inventory_db, inventory_kit)
    assert (pruned.outbox, pruned.inbox) == (2, 1)
    # Undelivered rows are never pruned, however old.
    assert await count(inventory_db, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL") == 1
    assert await count(inventory_db, "SELECT count(*) FROM outbox") == 2
    assert await count(inventory_db, "SELECT count(*) FROM inbox") == 1


def test_settings_keep_the_inbox_longer_than_the_broker_keeps_events(monkeypatch):
    monkeypatch.setenv("SHOP_INBOX_RETENTION_DAYS", "3")
    with pytest.raises(Exception, match="SHOP_INBOX_RETENTION_DAYS"):
        config.event_settings()


async def test_background_housekeeping_starts_no_traces(inventory_db, orders_db, span_exporter):
    """A relay's poll, the database health check and pruning run every second or so in every process:
    traced, they would bury the flows an SRE looks for under a trace of their own each time."""

    async def never(_: object) -> list[object]:
        raise AssertionError("nothing to publish")

    await asyncio.sleep(0.3)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    span_exporter.clear()
    assert await OutboxRelay(inventory_db, inventory_kit.outbox, never).run_once() == 0  # type: ignore[arg-type]
    assert await inventory_db.ping()
    await retention.prune_once(orders_db, orders_kit)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    assert [s.name for s in span_exporter.get_finished_spans()] == []
    # A flow's statements are traced as before.
    with trace.get_tracer("test").start_as_current_span("a flow"):
        async with inventory_db.transaction() as conn:
            await conn.execute(sa.text("SELECT 1"))
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    assert "a flow" in [s.name for s in span_exporter.get_finished_spans()]
    assert any(
        s.attributes and s.attributes.get("db.system") == "postgresql"
        for s in span_exporter.get_finished_spans()
    )


# --- consumer spans --------------------------------------------------------------------------------------


def _delivery(traceparent: str, sku: str) -> Delivery:
    spec = catalogue().of(inventory_events.StockAvailable)
    headers = {
        "Nats-Msg-Id": str(uuid.uuid4()),
        "Shop-Event-Type": spec.full_name,
        "traceparent": traceparent,
    }
    return Delivery(spec.subject, stock_available(sku).SerializeToString(), headers, 1)


def _parent(sampled: bool) -> str:
    return f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-{'01' if sampled else '00'}"


async def test_a_batch_applies_only_the_events_the_inbox_has_not_seen(orders_db):
    """Exactly once within and across batches: an event seen in an earlier batch, or twice in this one, has
    one effect; the applier answers the events it applied now."""
    subscriptions = Subscriptions("orders")
    subscriptions.on(inventory_events.StockAvailable)(effects_handler())
    subscription = subscriptions.for_subject(STREAM_SUBJECT)
    assert subscription is not None
    applier = Applier(orders_db, orders_kit.inbox, subscription)
    earlier, new = _delivery(_parent(False), "EARLIER"), _delivery(_parent(False), "NEW")
    assert await applier.apply([earlier]) == {uuid.UUID(earlier.event_id)}
    assert await applier.apply([earlier, new, new]) == {uuid.UUID(new.event_id)}
    assert await applier.apply([new, earlier]) == set()
    assert await count(orders_db, "SELECT count(*) FROM test_effects") == 2
    assert await count(orders_db, "SELECT count(*) FROM inbox") == 2


async def test_consumer_spans_are_made_for_sampled_flows_and_for_unsampled_ones_only_if_kept(
    orders_db, span_exporter, monkeypatch
):
    """An event of a sampled flow gets its CONSUMER span as the child of its producer's; one of a flow not
    sampled gets it only when its batch fails or is slow, as the tail would keep it (libs.sampling), with
    the batch's times and its error."""
    monkeypatch.setenv("SHOP_TRACE_SLOW_MS", "500")  # as the tail's (the test provider is set up once)
    slow: set[str] = set()
    subscriptions = Subscriptions("orders")
    handler = effects_handler(poison={"BAD"})

    async def handle(conn: AsyncConnection, events: Sequence[Received[inventory_events.StockAvailable]]):
        if any(line.sku_code in slow for r in events for line in r.event.lines):
            await asyncio.sleep(0.6)
        await handler(conn, events)

    subscriptions.on(inventory_events.StockAvailable)(handle)
    subscription = subscriptions.for_subject(STREAM_SUBJECT)
    assert subscription is not None
    applier = Applier(orders_db, orders_kit.inbox, subscription)

    def consumer_spans() -> dict[int, ReadableSpan]:
        trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
        finished = span_exporter.get_finished_spans()
        return {s.context.trace_id: s for s in finished if s.kind is trace.SpanKind.CONSUMER and s.context}

    def ids(traceparent: str) -> tuple[int, int]:
        _, trace_id, span_id, _ = traceparent.split("-")
        return int(trace_id, 16), int(span_id, 16)

    # Quick and successful: only the sampled flow's event has a span, parented by its producer's span.
    span_exporter.clear()
    sampled, unsampled = _parent(True), _parent(False)
    await applier.apply([_delivery(sampled, "A"), _delivery(unsampled, "B")])
    spans = consumer_spans()
    assert list(spans) == [ids(sampled)[0]]
    assert (parent := spans[ids(sampled)[0]].parent) and parent.span_id == ids(sampled)[1]

    # Failed: the unsampled flow's span is made after all, with the error, and the tail keeps it.
    span_exporter.clear()
    failing = _parent(False)
    with pytest.raises(ValueError):
        await applier.apply([_delivery(failing, "BAD")])
    kept = consumer_spans()[ids(failing)[0]]
    assert kept.status.status_code is trace.StatusCode.ERROR
    assert kept.attributes and kept.attributes["shop.trace.kept"] == "error"
    assert (parent := kept.parent) and parent.span_id == ids(failing)[1]

    # Slow: made with the batch's times and kept as slow.
    span_exporter.clear()
    slow.add("C")
    lagging = _parent(False)
    await applier.apply([_delivery(lagging, "C")])
    kept = consumer_spans()[ids(lagging)[0]]
    assert kept.attributes and kept.attributes["shop.trace.kept"] == "slow"
    assert (kept.end_time or 0) - (kept.start_time or 0) >= 500_000_000
    assert await count(orders_db, "SELECT count(*) FROM test_effects") == 3  # A, B and C; not BAD


async def queued(inventory_db: Database, bus: EventBus, n: int) -> None:
    """``n`` events published and relayed to the broker before any consumer starts, so that its batches
    are full."""
    async with inventory_db.transaction() as conn:
        for i in range(n):
            await publish(conn, inventory_kit.outbox, "x", stock_available(f"SKU-{i}"))
    relay = OutboxRelay(inventory_db, inventory_kit.outbox, bus.publish_batch)
    while await relay.run_once():
        pass


async def test_a_subscription_sets_its_own_batch_size(inventory_db, orders_db, nats_server, bus):
    """A burst is applied in batches of the subscription's size at most, and every event once."""
    sizes: list[int] = []
    subscriptions = Subscriptions("orders")
    record = effects_handler()

    @subscriptions.on(inventory_events.StockAvailable, batch_size=7)
    async def handle(conn: AsyncConnection, events: Sequence[Received[inventory_events.StockAvailable]]):
        sizes.append(len(events))
        await record(conn, events)

    await queued(inventory_db, bus, 30)
    runtime, _ = await start_orders_runtime(orders_db, nats_server.url, subscriptions)
    try:
        await eventually(
            lambda: count(orders_db, "SELECT count(*) = 30 FROM test_effects"), what="every event applied"
        )
        assert max(sizes) == 7 and sum(sizes) == 30
    finally:
        await runtime.stop(0)


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="batch_size"):
        Subscriptions("orders").on(inventory_events.StockAvailable, batch_size=0)


async def test_a_subscription_may_apply_several_batches_at_once(inventory_db, orders_db, nats_server, bus):
    """With ``in_flight``, that many batches are applied at the same time, each in its own transaction,
    never more; every event once, every message acknowledged."""
    applying = 0
    most = 0
    subscriptions = Subscriptions("orders")
    record = effects_handler()

    @subscriptions.on(inventory_events.StockAvailable, batch_size=5, in_flight=3)
    async def handle(conn: AsyncConnection, events: Sequence[Received[inventory_events.StockAvailable]]):
        nonlocal applying, most
        applying += 1
        most = max(most, applying)
        try:
            await record(conn, events)
            await asyncio.sleep(0.1)  # long enough for the next batches to start beside it
        finally:
            applying -= 1

    await queued(inventory_db, bus, 40)
    runtime, _ = await start_orders_runtime(orders_db, nats_server.url, subscriptions)
    try:
        await eventually(
            lambda: count(orders_db, "SELECT count(*) = 40 FROM test_effects"), what="every event applied"
        )
        assert most == 3
        durable = subscriptions.for_subject("shop.inventory.v1.stock_available").durable  # type: ignore[union-attr]

        async def settled() -> bool:
            info = await bus.js.consumer_info(STREAM, durable)
            return info.num_ack_pending == 0 and info.num_pending == 0

        await eventually(settled, what="every message acknowledged")
    finally:
        await runtime.stop(0)
    assert await count(orders_db, "SELECT count(DISTINCT sku) FROM test_effects") == 40


def test_batches_in_flight_below_one_are_refused():
    with pytest.raises(ValueError, match="in_flight"):
        Subscriptions("orders").on(inventory_events.StockAvailable, in_flight=0)
