"""The central NATS cluster: three nodes with routes and replicated JetStream, on loopback.

JetStream level only (the broker-level fault tests are elsewhere): a replicated stream keeps taking
and delivering messages when one node of three is killed -9, loses none and duplicates none, and the
killed node catches up when it comes back.
"""

from __future__ import annotations

import asyncio
import time

import nats.errors
import pytest

from tests.nats_cluster import NatsCluster
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.buckets import open_bucket

N = 300


@pytest.fixture
async def cluster():
    async with NatsCluster(nodes=3, sites=["site-a"]) as hub:
        yield hub


async def publish_until_acked(js, subject: str, n: int, deadline: float) -> None:
    """Publish message `n` until the stream acknowledges it; the same Nats-Msg-Id makes a repeat harmless."""
    while True:
        try:
            await js.publish(subject, str(n).encode(), timeout=1.0, headers={"Nats-Msg-Id": f"m-{n}"})
            return
        except nats.errors.Error:  # no leader yet, no responder, a timeout: the node is gone
            assert time.monotonic() < deadline, f"message {n} not acknowledged in time"
            await asyncio.sleep(0.1)


async def test_streams_and_a_sites_buckets_are_replicated_on_three_nodes(cluster):
    nc, site = await cluster.connect(), await cluster.connect("site-a")
    try:
        js = nc.jetstream()
        for name in c.STREAMS:
            info = await js.stream_info(name)
            assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2, info.cluster
        bucket = await open_bucket(site.jetstream(), c.sessions_bucket("site-a"), cluster.replicas)  # its account
        assert (await bucket.status()).stream_info.config.num_replicas == 3
    finally:
        await nc.close()
        await site.close()


async def test_a_just_created_replicated_bucket_takes_its_first_write(cluster):
    """open_bucket returns only once the bucket's stream has a leader: a put at once is stored, never
    "no responders" (seen as a flake when a site's first write raced the election)."""
    site = await cluster.connect("site-a")
    js = site.jetstream(timeout=5)
    try:
        for n in range(10):  # each a fresh election; one put each, no retry
            bucket = f"eb-sessions-site-a-fresh{n}"
            kv = await open_bucket(js, bucket, cluster.replicas)
            assert await kv.put("first", b"write") >= 1
            assert (await js.stream_info(f"KV_{bucket}")).cluster.leader
            await js.delete_key_value(bucket)
    finally:
        await site.close()


async def test_a_replicated_stream_survives_killing_its_leader():
    async with NatsCluster(nodes=3) as cluster:  # no site: its consumer would own the work queue's subjects
        await _survives_killing_its_leader(cluster)


async def _survives_killing_its_leader(cluster: NatsCluster) -> None:
    nc = await cluster.connect(name="probe")
    try:
        js = nc.jetstream()
        subject = c.command_subject("site-a")
        leader = (await js.stream_info(c.COMMANDS_STREAM)).cluster.leader
        victim = [node.name for node in cluster.nodes].index(leader)
        deadline = time.monotonic() + 60
        for n in range(N // 2):
            await publish_until_acked(js, subject, n, deadline)
        cluster.kill(victim)  # -9, mid-stream: the stream's leader
        for n in range(N // 2, N):
            await publish_until_acked(js, subject, n, deadline)
        for n in range(N // 2 - 10, N // 2 + 10):  # repeats (a client unsure of an ack) are dropped
            await publish_until_acked(js, subject, n, deadline)

        info = await js.stream_info(c.COMMANDS_STREAM)
        assert info.cluster.leader != leader and info.state.messages == N

        while True:  # creating a consumer needs the meta leader, maybe being elected again
            try:
                sub = await js.pull_subscribe(subject, durable="probe", stream=c.COMMANDS_STREAM)
                break
            except nats.errors.Error:
                assert time.monotonic() < deadline, "no consumer could be made after the kill"
        got: list[int] = []
        while len(got) < N and time.monotonic() < deadline:
            try:
                batch = await sub.fetch(100, timeout=2)
            except nats.errors.TimeoutError:
                continue
            for msg in batch:
                got.append(int(msg.data))
                await msg.ack()
        assert got == list(range(N))  # all of them, once, in order

        await cluster.restart(victim)  # back on its own store: it catches up with the others
        for _ in range(100):
            replicas = (await js.stream_info(c.COMMANDS_STREAM)).cluster.replicas or []
            if len(replicas) == 2 and all(r.current for r in replicas):
                break
            await asyncio.sleep(0.1)
        assert {r.name for r in replicas} | {info.cluster.leader} == {node.name for node in cluster.nodes}
        assert all(r.current for r in replicas), replicas
    finally:
        await nc.close()
