"""Carriers and freight (LOG-7) through the gateway, over a real logistics gRPC server and database: the
routes come from the contract alone, as for every service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from libs import config
from libs.db import Database
from libs.grpc_client import open_channel
from libs.grpc_server import GrpcServer
from services.gateway.app import create_app
from services.gateway.upstreams import Upstreams
from services.logistics.__main__ import build
from tests.conftest import token_for

SF: dict[str, Any] = {
    "name": "顺丰速运",
    "zones": [
        {
            "zone": 1, "provinces": ["Zhejiang", "Shanghai", "Jiangsu"], "promised_days": 1,
            "first_weight_price_fen": 1200, "additional_kg_price_fen": 200,
        },
        {
            "zone": 2, "provinces": ["Guangdong", "Beijing"], "promised_days": 2,
            "first_weight_price_fen": 2300, "additional_kg_price_fen": 1000,
        },
    ],
}  # fmt: skip
ZTO: dict[str, Any] = {
    "name": "中通快递",
    "zones": [
        {
            "zone": 1, "provinces": ["Zhejiang", "Shanghai", "Jiangsu", "Guangdong"], "promised_days": 2,
            "first_weight_price_fen": 500, "additional_kg_price_fen": 100, "first_weight_grams": 3000,
        },
        {
            "zone": 3, "provinces": ["Xinjiang"], "promised_days": 5,
            "first_weight_price_fen": 1800, "additional_kg_price_fen": 1500,
        },
    ],
}  # fmt: skip


def as_role(role: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(role)}", **extra}


CLERK = as_role("logistics_clerk")


@pytest.fixture
async def http(fresh_database) -> AsyncIterator[httpx.AsyncClient]:
    database = Database(fresh_database("logistics"))
    server = GrpcServer(config.service_config("logistics"), build(database))
    port = await server.start("127.0.0.1:0")
    channel = open_channel(f"127.0.0.1:{port}")
    app = create_app()
    app.state.upstreams = Upstreams(channels={"logistics": channel}, health_channels={})
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            yield client
    finally:
        await channel.close()
        await server.stop(0)
        await database.dispose()


async def put(http: httpx.AsyncClient, code: str, terms: dict[str, Any], **headers: str) -> httpx.Response:
    return await http.put(f"/v1/logistics/carriers/{code}", json=terms, headers={**CLERK, **headers})


async def quote(http: httpx.AsyncClient, **params: str | int) -> httpx.Response:
    return await http.get("/v1/logistics/freight-quotes", params=params, headers=as_role("customer_service"))


async def test_log_7_carriers_are_registered_listed_and_replaced(http):
    stored = await put(http, "sf", SF, **{"Idempotency-Key": "sf-terms-1"})
    assert stored.status_code == 200, stored.text
    assert stored.json()["carrier"]["zones"][0]["provinces"] == ["Jiangsu", "Shanghai", "Zhejiang"]
    again = await put(http, "sf", SF, **{"Idempotency-Key": "sf-terms-1"})
    assert again.json() == stored.json()  # a retry gets the first answer
    assert (await put(http, "zto", ZTO)).status_code == 200
    listed = (await http.get("/v1/logistics/carriers", headers=CLERK)).json()["carriers"]
    assert [c["carrier_code"] for c in listed] == ["sf", "zto"]
    cheaper = {**SF, "zones": [{**SF["zones"][0], "first_weight_price_fen": 1000}]}
    assert (await put(http, "sf", cheaper)).status_code == 200
    [sf] = [
        c
        for c in (await http.get("/v1/logistics/carriers", headers=CLERK)).json()["carriers"]
        if c["carrier_code"] == "sf"
    ]
    assert [(z["zone"], z["first_weight_price_fen"]) for z in sf["zones"]] == [(1, 1000)]


async def test_log_7_freight_is_the_first_weight_plus_each_started_kilogram(http):
    await put(http, "sf", SF)
    await put(http, "zto", ZTO)
    # The order chose SF: 2,001 g to zone 2 is the first kilogram and two started ones.
    chosen = await quote(http, province="Beijing", weight_grams=2001, carrier_code="sf")
    assert chosen.json() == {
        "carrier_code": "sf",
        "zone": 2,
        "promised_days": 2,
        "freight_fen": 2300 + 2 * 1000,
    }
    # No choice: the fastest carrier covering the province (SF, 1 day, to Zhejiang).
    fastest = await quote(http, province="Zhejiang", weight_grams=1000)
    assert (fastest.json()["carrier_code"], fastest.json()["freight_fen"]) == ("sf", 1200)
    # Only ZTO reaches Xinjiang; its first weight there is 1,000 g.
    remote = await quote(http, province="Xinjiang", weight_grams=1500)
    assert (remote.json()["carrier_code"], remote.json()["freight_fen"]) == ("zto", 1800 + 1500)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"province": "Tibet", "weight_grams": 1000}, 422, "address.province"),
        ({"province": "Xinjiang", "weight_grams": 1000, "carrier_code": "sf"}, 422, "carrier_code"),
        ({"province": "Zhejiang", "weight_grams": 0}, 400, "weight_grams"),
        ({"province": "Zhejiang", "weight_grams": "heavy"}, 400, "weight_grams"),
    ],
)
async def test_log_7_a_parcel_no_carrier_takes_is_refused_naming_the_field(http, params, status, field):
    await put(http, "sf", SF)
    await put(http, "zto", ZTO)
    refused = await quote(http, **params)
    assert refused.status_code == status, refused.text
    assert field in [f["field"] for f in refused.json()["error"]["fields"]]


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({**SF, "zones": []}, "carrier.zones"),
        ({**SF, "zones": [{**SF["zones"][0], "promised_days": 0}]}, "carrier.zones[0].promised_days"),
        ({**SF, "zones": [SF["zones"][0], {**SF["zones"][1], "zone": 1}]}, "carrier.zones[1].zone"),
        (
            {**SF, "zones": [SF["zones"][0], {**SF["zones"][1], "provinces": ["Zhejiang"]}]},
            "carrier.zones[1].provinces[0]",
        ),
        (
            {**SF, "zones": [{**SF["zones"][0], "additional_kg_price_fen": -1}]},
            "carrier.zones[0].additional_kg_price",
        ),
        ({**SF, "name": " "}, "carrier.name"),
        # A price table with a gap: a zone without its first-weight price is not free shipping.
        (
            {**SF, "zones": [{k: v for k, v in SF["zones"][0].items() if k != "first_weight_price_fen"}]},
            "carrier.zones[0].first_weight_price",
        ),
    ],
)
async def test_log_7_bad_terms_are_refused_naming_the_field_and_nothing_is_stored(http, terms, field):
    refused = await put(http, "sf", terms)
    assert refused.status_code == 400, refused.text
    assert field in [f["field"] for f in refused.json()["error"]["fields"]]
    assert (await http.get("/v1/logistics/carriers", headers=CLERK)).json()["carriers"] == []


async def test_only_the_logistics_clerk_and_supervisor_set_carriers(http):
    refused = await http.put("/v1/logistics/carriers/sf", json=SF, headers=as_role("stock_keeper"))
    assert refused.status_code == 403
    assert (
        await http.put("/v1/logistics/carriers/sf", json=SF, headers=as_role("supervisor"))
    ).status_code == 200
