"""Gateways and planners started together on a fresh database create and migrate its schema once."""

from __future__ import annotations

import asyncio
import uuid

from srcnet_eb.shared.model import DockerContainer, DockerImage, ExecutionRequest, Meta
from srcnet_eb.shared.store import Store


async def test_processes_opening_a_fresh_database_together_all_succeed(fresh_database_url):
    stores = await asyncio.gather(*(Store.open(fresh_database_url) for _ in range(6)))
    try:
        oid = uuid.uuid4()
        request = ExecutionRequest(meta=Meta(name="race"), executable=DockerContainer(image=DockerImage(locations=["i:1"])))
        await stores[0].offersets.add(oid, request)
        await stores[1].offersets.add(oid, request)  # idempotent: the second record keeps the first
        assert (await stores[5].offersets.get(oid)).meta.name == "race"
    finally:
        await asyncio.gather(*(s.close() for s in stores))
