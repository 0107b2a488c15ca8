"""GET /healthz and /readyz: what compose, Kubernetes and load balancers probe, without a token."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.engine import make_url

from srcnet_eb.services.embedded.nats import EmbeddedNats
from srcnet_eb.shared.store import Store

from .broker import Broker
from .tcp_relay import Relay


async def _ready(base: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        return await http.get("/readyz")


async def test_alive_and_ready_without_a_token(broker):
    async with httpx.AsyncClient(base_url=broker.base_url, timeout=10) as http:
        alive = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert alive.status_code == 200 and alive.json() == {"status": "pass", "checks": {}}
    assert ready.status_code == 200
    assert ready.json() == {"status": "pass", "checks": {"nats": "pass", "database": "pass"}}


async def test_not_ready_names_nats_when_its_server_is_gone(sqlite_store):
    server = EmbeddedNats().start()
    b = Broker(server.url, sqlite_store)
    try:
        await b.start_gateway()
        assert (await _ready(b.base_url)).status_code == 200
        server.stop()
        for _ in range(100):  # the client notices the closed socket on its next read
            answer = await _ready(b.base_url)
            if answer.status_code == 503:
                break
            await asyncio.sleep(0.05)
        assert answer.status_code == 503
        assert answer.json() == {"status": "fail", "checks": {"nats": "fail: not connected", "database": "pass"}}
    finally:
        server.stop()
        await b.close()


@pytest.mark.postgres
async def test_not_ready_names_the_database_when_it_cannot_be_reached(nats_url, postgres_database):
    url = make_url(postgres_database)
    async with Relay(url.host or "127.0.0.1", url.port or 5432) as relay:
        store = await Store.open(url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False))
        b = Broker(nats_url, store)
        try:
            await b.start_gateway()
            assert (await _ready(b.base_url)).status_code == 200
            await relay.cut()
            answer = await _ready(b.base_url)
            assert answer.status_code == 503
            body = answer.json()
            assert body["status"] == "fail" and body["checks"]["nats"] == "pass"
            assert body["checks"]["database"].startswith("fail: ")
        finally:
            await b.close()
            await store.close()
