"""The Skaha stand-in and the CANFAR agent's Skaha client, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from srcnet_eb.services.canfar_agent.skaha import SkahaClient
from srcnet_eb.services.canfar_agent.skaha_types import (SessionPhase, SkahaContext, SkahaRejected, SkahaSession,
                                                       SkahaUnavailable)
from srcnet_eb.standins.skaha import SkahaStandInConfig, StandInImage, load_config, running_standin

SITES = Path(__file__).resolve().parents[1] / "standins" / "skaha" / "sites"
ASTROML = "images.canfar.net/skaha/astroml:24.07"
BROKEN = "images.canfar.net/skaha/broken:0.1"


def fast_config(**overrides: object) -> SkahaStandInConfig:
    base: dict[str, object] = {
        "images": [
            StandInImage(id=ASTROML, types=["notebook", "headless"], digest="sha256:aa"),
            StandInImage(id=BROKEN, types=["headless"], digest="sha256:bb"),
        ],
        "cores_options": [1, 2, 4], "memory_options": [1, 2, 4, 8],
        "session_pending_seconds": 0.3, "session_run_seconds": 0.3,
        "session_terminating_seconds": 0.3, "fail_images": [BROKEN],
    }
    return SkahaStandInConfig.model_validate(base | overrides)


async def control(url: str, **body: object) -> None:
    async with httpx.AsyncClient() as http:
        (await http.post(url, json=body)).raise_for_status()


async def stats(base_url) -> dict[str, int]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient() as http:
        return (await http.get(base_url.control("stats"))).json()


async def wait_for(client: SkahaClient, sid: str, phase: SessionPhase,
                   timeout: float = 5.0) -> SkahaSession:
    deadline = time.monotonic() + timeout
    while True:
        session = await client.session(sid)
        assert session is not None, f"session {sid} vanished while waiting for {phase}"
        if session.phase is phase:
            return session
        assert time.monotonic() < deadline, f"{sid} still {session.status}, wanted {phase}"
        await asyncio.sleep(0.05)


async def test_site_configs_differ_in_images_and_context() -> None:
    a, b = load_config(SITES / "site-a.yaml"), load_config(SITES / "site-b.yaml")
    async with running_standin(a) as url_a, running_standin(b) as url_b:
        async with SkahaClient(url_a) as ca, SkahaClient(url_b) as cb:
            ids_a = {i.id for i in await ca.images()}
            ids_b = {i.id for i in await cb.images()}
            assert ASTROML in ids_a & ids_b
            assert "images.canfar.net/skaha/casa:6.6" in ids_a - ids_b
            assert "images.canfar.net/skaha/pulsar:2.1" in ids_b - ids_a
            astroml = next(i for i in await ca.images() if i.id == ASTROML)
            assert astroml.types == ("notebook", "headless")
            assert astroml.digest and astroml.digest.startswith("sha256:")
            assert all("notebook" in i.types for i in await cb.images(type="notebook"))

            ctx_a, ctx_b = await ca.context(), await cb.context()
            assert max(ctx_a.cores) == 8 and max(ctx_b.cores) == 16
            assert ctx_a.gpus == () and ctx_b.gpus == (1,)
            assert ctx_a.default_cores == 2 and ctx_a.default_memory_gb == 8
            assert ctx_b.memory_gb == tuple(sorted(ctx_b.memory_gb))


async def test_raw_payload_shapes_match_skaha() -> None:
    async with running_standin(fast_config()) as url, httpx.AsyncClient() as http:
        ctx = (await http.get(f"{url}/v1/context")).json()
        assert set(ctx["cores"]) == {"default", "defaultRequest", "defaultLimit", "options"}
        assert set(ctx["memoryGB"]) == {"default", "defaultRequest", "defaultLimit", "options"}
        assert ctx["gpus"] == {"options": []}
        images = (await http.get(f"{url}/v1/image", params={"type": "notebook"})).json()
        assert images == [{"id": ASTROML, "types": ["notebook", "headless"], "digest": "sha256:aa"}]
        created = await http.post(f"{url}/v1/session", data={"name": "n1", "image": ASTROML})
        assert created.headers["content-type"].startswith("text/plain")
        sid = created.text.strip()
        doc = (await http.get(f"{url}/v1/session/{sid}")).json()
        assert {"id", "userid", "image", "type", "status", "name", "startTime", "expiryTime",
                "connectURL", "requestedGPUCores"} <= set(doc)
        assert doc["type"] == "notebook" and doc["status"] == "Pending"  # no type: the image's first, as Skaha


async def test_token_required() -> None:
    async with running_standin(fast_config(token="s3cret")) as url:
        for token in (None, "wrong"):
            async with SkahaClient(url, token) as client:
                with pytest.raises(SkahaUnavailable) as info:
                    await client.images()
                assert info.value.status_code == 401
                assert "401" in info.value.reason
        async with SkahaClient(url, "s3cret") as client:
            assert [i.id for i in await client.images()] == [ASTROML, BROKEN]


async def test_images_and_context_are_cached_and_fetches_shared() -> None:
    async with running_standin(fast_config()) as url:
        async with SkahaClient(url, cache_ttl=30) as client:
            await asyncio.gather(*(client.images() for _ in range(5)),
                                 *(client.context() for _ in range(5)))
            await client.images()
            assert isinstance(await client.context(), SkahaContext)
            counted = await stats(url)
            assert (counted["image"], counted["context"]) == (1, 1)
            client.invalidate_cache()
            await client.images()
            assert (await stats(url))["image"] == 2
        async with SkahaClient(url, cache_ttl=0.2) as client:
            await client.context()
            await asyncio.sleep(0.3)
            await client.context()
            assert (await stats(url))["context"] == 3


async def test_outage_then_recovery() -> None:
    async with running_standin(fast_config()) as url:
        async with SkahaClient(url, cache_ttl=0) as client:
            await control(url.control("outage"), down=True)
            with pytest.raises(SkahaUnavailable) as info:
                await client.context()
            assert info.value.status_code == 503
            with pytest.raises(SkahaUnavailable):
                await client.create_session(name="x", image=ASTROML)
            await control(url.control("outage"), down=False)
            assert (await client.context()).cores == (1, 2, 4)


async def test_failed_fetch_is_not_cached() -> None:
    async with running_standin(fast_config()) as url:
        async with SkahaClient(url, cache_ttl=30) as client:
            await control(url.control("outage"), down=True)
            with pytest.raises(SkahaUnavailable):
                await client.images()
            await control(url.control("outage"), down=False)
            assert len(await client.images()) == 2


async def test_closed_port_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with SkahaClient(f"http://127.0.0.1:{port}/skaha", timeout=2.0) as client:
        started = time.monotonic()
        with pytest.raises(SkahaUnavailable) as info:
            await client.images()
        assert time.monotonic() - started < 1.0
        assert "ConnectError" in info.value.reason


async def test_slow_server_times_out() -> None:
    async with running_standin(fast_config()) as url:
        await control(url.control("faults"), delay_seconds=2.0)
        async with SkahaClient(url, timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(SkahaUnavailable, match="no answer within"):
                await client.context()
            assert time.monotonic() - started < 1.0


async def test_malformed_payload() -> None:
    async with running_standin(fast_config()) as url:
        await control(url.control("faults"), malformed=True)
        async with SkahaClient(url) as client:
            for call in (client.images, client.context):
                with pytest.raises(SkahaUnavailable, match="malformed payload"):
                    await call()


async def test_legacy_context_spelling_and_statuses() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/v1/context"):  # the 2021 /context payload
            return httpx.Response(200, json={"defaultCores": 2, "availableCores": [4, 1, 2],
                                             "defaultRAM": 16, "availableRAM": [16, 8]})
        return httpx.Response(200, json={"id": "abc", "status": "Succeeded",
                                         "requestedRAM": "16G", "requestedCPUCores": "<none>"})

    async with SkahaClient("https://skaha.invalid/skaha",
                           transport=httpx.MockTransport(handler)) as client:
        assert await client.context() == SkahaContext(
            cores=(1, 2, 4), memory_gb=(8, 16), gpus=(), default_cores=2, default_memory_gb=16)
        session = await client.session("abc")
        assert session is not None and session.phase is SessionPhase.SUCCEEDED
        assert session.requested_ram_gb == 16.0 and session.requested_cpu_cores is None


async def test_headless_session_runs_to_completion() -> None:
    async with running_standin(fast_config()) as url, SkahaClient(url) as client:
        sid = await client.create_session(name="job1", image=ASTROML, cores=2, ram=4,
                                          cmd="python", args=["-c", "print(1)"], env={"A": "1"})
        first = await client.session(sid)
        assert first is not None and first.phase is SessionPhase.PENDING
        assert first.requested_cpu_cores == 2 and first.requested_ram_gb == 4
        await wait_for(client, sid, SessionPhase.RUNNING)
        done = await wait_for(client, sid, SessionPhase.SUCCEEDED)
        assert done.status == "Completed" and done.phase.terminal
        assert [s.id for s in await client.sessions(type="headless")] == [sid]


async def test_failing_image_goes_to_failed() -> None:
    async with running_standin(fast_config()) as url, SkahaClient(url) as client:
        sid = await client.create_session(name="bad", image=BROKEN)
        assert (await wait_for(client, sid, SessionPhase.FAILED)).status == "Failed"


async def test_delete_terminates_then_removes() -> None:
    async with running_standin(fast_config()) as url, SkahaClient(url) as client:
        sid = await client.create_session(name="nb", image=ASTROML, type="notebook")
        running = await wait_for(client, sid, SessionPhase.RUNNING)
        assert running.connect_url and sid in running.connect_url
        await asyncio.sleep(0.4)  # interactive sessions do not finish by themselves
        assert (await client.session(sid)).phase is SessionPhase.RUNNING  # type: ignore[union-attr]
        assert await client.delete_session(sid) is True
        assert (await client.session(sid)).phase is SessionPhase.TERMINATING  # type: ignore[union-attr]
        deadline = time.monotonic() + 3
        while await client.session(sid) is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert await client.delete_session(sid) is False


async def test_renew_extends_expiry() -> None:
    async with running_standin(fast_config(session_expiry_seconds=60)) as url:
        async with SkahaClient(url) as client:
            sid = await client.create_session(name="nb", image=ASTROML, type="notebook")
            before = await client.session(sid)
            await asyncio.sleep(1.1)  # Skaha reports whole seconds
            await client.renew_session(sid)
            after = await client.session(sid)
            assert before and after and before.expiry_time and after.expiry_time
            assert after.expiry_time > before.expiry_time
            with pytest.raises(SkahaRejected) as info:
                await client.renew_session("nosuchid")
            assert info.value.status_code == 404


async def test_expired_session_fails() -> None:
    async with running_standin(fast_config(session_expiry_seconds=0.6)) as url:
        async with SkahaClient(url) as client:
            sid = await client.create_session(name="nb", image=ASTROML, type="notebook")
            await wait_for(client, sid, SessionPhase.FAILED)


async def test_bad_requests_are_rejected_not_unavailable() -> None:
    async with running_standin(fast_config()) as url, SkahaClient(url) as client:
        with pytest.raises(SkahaRejected, match="cores") as info:
            await client.create_session(name="big", image=ASTROML, cores=64)
        assert info.value.status_code == 400
        with pytest.raises(SkahaRejected, match="image not found"):
            await client.create_session(name="x", image="images.canfar.net/skaha/nope:1")
        assert await client.session("nosuchid") is None


async def test_sessions_wait_for_capacity() -> None:
    cfg = fast_config(total_cores=2, total_memory_gb=8)
    async with running_standin(cfg) as url, SkahaClient(url) as client:
        first = await client.create_session(name="a", image=ASTROML, cores=2, ram=1)
        second = await client.create_session(name="b", image=ASTROML, cores=2, ram=1)
        await wait_for(client, first, SessionPhase.RUNNING)
        assert (await client.session(second)).phase is SessionPhase.PENDING  # type: ignore[union-attr]
        await wait_for(client, first, SessionPhase.SUCCEEDED)
        await wait_for(client, second, SessionPhase.RUNNING)


def test_sync_context_manager() -> None:
    with running_standin(fast_config()) as url:
        assert httpx.get(f"{url}/v1/image").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/image", timeout=1)


async def test_client_accepts_host_root_or_service_url() -> None:
    async with running_standin(fast_config()) as url:
        for base in (url, url.root, f"{url}/v1/"):
            async with SkahaClient(base) as client:
                assert client.base_url == str(url)
                assert len(await client.images()) == 2
