"""Every HTTP request starts a trace of its own, also on a kept-alive connection after a refused request:
the gateway served by uvicorn with its instrumentation, as ``python -m services.gateway`` runs it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from libs import config
from services.gateway.__main__ import instrument
from services.gateway.app import create_app
from tests.conftest import token_for
from tests.ports import free_port


@pytest.fixture
async def gateway_url(span_exporter) -> AsyncIterator[str]:
    app = create_app()
    port = free_port()
    served = instrument(app)
    server = uvicorn.Server(
        uvicorn.Config(served, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event to wait on)
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        FastAPIInstrumentor.uninstrument_app(app)


async def test_each_request_on_one_connection_has_its_own_trace(gateway_url, span_exporter):
    headers = {"Authorization": f"Bearer {token_for('integrator')}", "Content-Type": "application/json"}
    too_big = b'{"buyer_id": "' + b"x" * (config.max_message_bytes() + 1) + b'"}'
    requests = [
        ("GET", "/v1/nowhere", None, 404),
        ("POST", "/v1/orders", too_big, 413),  # refused before the body is read to its end
        ("GET", "/v1/nowhere", None, 404),
        ("POST", "/v1/orders", b'{"buyer_id": ', 400),
        ("POST", "/v1/orders", b'{"buyer_id": "' + b"y" * 200_000 + b'", "x": 1}', 400),  # read to its end
        ("GET", "/v1/nowhere", None, 404),
        ("GET", "/v1/nowhere/healthz%2Clivez", None, 404),  # only the probes themselves go untraced
    ]
    span_exporter.clear()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    trace_ids = []
    async with httpx.AsyncClient(base_url=gateway_url, limits=limits, timeout=30) as http:
        for method, path, body, status in requests:
            reply = await http.request(method, path, content=body, headers=headers)
            assert reply.status_code == status, reply.text
            assert reply.json()["error"]["trace_id"] == reply.headers["X-Trace-Id"]
            trace_ids.append(reply.headers["X-Trace-Id"])
    assert len(set(trace_ids)) == len(requests), trace_ids
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        probe = await http.get("/livez")  # polled constantly: no trace of its own
    assert probe.status_code == 200 and "X-Trace-Id" not in probe.headers
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    provider.force_flush()  # type: ignore[attr-defined]
    roots = {
        format(s.context.trace_id, "032x")
        for s in span_exporter.get_finished_spans()
        if s.parent is None and s.kind == trace.SpanKind.SERVER
    }
    assert set(trace_ids) <= roots  # each a root of its own trace, none nested under another request


async def test_a_transcoded_request_is_traced_under_its_route(gateway_url, span_exporter):
    """SREs find requests by route: the server span is named after the contract's path template."""
    from opentelemetry import trace

    span_exporter.clear()
    headers = {"Authorization": f"Bearer {token_for('stock_keeper')}"}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        reply = await http.get("/v1/inventory/skus/LJ-250-GRN", headers=headers)
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    [server] = [
        s
        for s in span_exporter.get_finished_spans()
        if s.kind == trace.SpanKind.SERVER
        and format(s.context.trace_id, "032x") == reply.headers["X-Trace-Id"]
    ]
    assert server.name == "GET /v1/inventory/skus/{sku_code}"
    assert (server.attributes or {})["http.route"] == "/v1/inventory/skus/{sku_code}"
