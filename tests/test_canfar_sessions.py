"""CanfarPlatform's session lifecycle against the Skaha stand-in over real loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from srcnet_eb.services.canfar_agent.platform import CanfarPlatform
from srcnet_eb.services.canfar_agent.launches import LaunchError, session_name, session_type
from srcnet_eb.services.canfar_agent.settings import CanfarSettings
from srcnet_eb.services.canfar_agent.skaha import SkahaClient
from srcnet_eb.services.canfar_agent.skaha_types import SkahaUnavailable
from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.capacity.ledger import SharedLedger
from srcnet_eb.shared.platform.port import Preparation, RunState, RunStatus
from srcnet_eb.standins.skaha.app import create_app
from srcnet_eb.standins.skaha.config import SkahaStandInConfig, StandInImage
from srcnet_eb.standins.skaha.server import StandInURL, running_standin

NOTEBOOK = "images.canfar.net/skaha/astroml:24.07"  # notebook + headless
BATCH = "images.canfar.net/skaha/batch:1.0"  # headless only
APP = "images.canfar.net/skaha/casa:6.6"  # desktop-app + headless: no interactive session type
CARTA = "images.canfar.net/skaha/carta:4.1"
BROKEN = "images.canfar.net/skaha/broken:0.1"


def standin_config(**overrides: object) -> SkahaStandInConfig:
    base: dict[str, object] = {
        "images": [
            StandInImage(id=NOTEBOOK, types=["notebook", "headless"]),
            StandInImage(id=BATCH, types=["headless"]),
            StandInImage(id=APP, types=["desktop-app", "headless"]),
            StandInImage(id=CARTA, types=["carta"]),
            StandInImage(id=BROKEN, types=["headless"]),
        ],
        "cores_options": [1, 2, 4], "memory_options": [1, 2, 4, 8],
        "session_pending_seconds": 0.2, "session_run_seconds": 0.5,
        "session_terminating_seconds": 0.3, "fail_images": [BROKEN],
    }
    return SkahaStandInConfig.model_validate(base | overrides)


def settings(url: str, **overrides: object) -> CanfarSettings:
    values = {"site": "site-t", "skaha_url": url, "nats_url": "nats://unused", "skaha_cache_ttl": 0.0,
              "total_cores": 8, "total_memory_gb": 16} | overrides
    return CanfarSettings(**values)


@contextlib.asynccontextmanager
async def site(standin: dict | None = None, **agent: object) -> AsyncIterator[tuple[StandInURL, CanfarPlatform, Booking]]:
    async with running_standin(standin_config(**(standin or {}))) as url:
        platform = CanfarPlatform(settings(url, **agent))
        try:
            yield url, platform, Booking.in_memory(platform, platform.settings)
        finally:
            await platform.stop()


def request(image: str, cores: int = 1, memory: int = 2, **executable: object) -> m.ExecutionRequest:
    return m.ExecutionRequest.model_validate({
        "meta": {"name": "test"},
        "executable": {"kind": m.kinds.DOCKER_CONTAINER, "image": {"locations": [image]}, **executable},
        "compute": {"kind": m.kinds.SIMPLE_COMPUTE, "cores": {"min": cores, "max": cores},
                    "memory": {"min": memory, "max": memory}},
        "schedule": {"requested": {"duration": "PT1H"}},
    })


async def offer(booking: Booking, image: str, **kw: object) -> m.ExecutionSession:
    answer = await booking.offers(uuid4(), request(image, **kw), Preparation())
    assert answer.result is m.Result.YES, answer.messages
    return answer.offers[0]


async def wait_state(platform: CanfarPlatform, sid: str, state: RunState, timeout: float = 5.0) -> RunStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await platform.status(sid)
        if status.state is state:
            return status
        assert time.monotonic() < deadline, f"{sid} still {status}, wanted {state}"
        await asyncio.sleep(0.05)


async def skaha_sessions(url: str):
    async with SkahaClient(url, cache_ttl=0) as client:
        return await client.sessions()


async def test_headless_launch_goes_pending_running_succeeded() -> None:
    async with site() as (url, platform, booking):
        session = await offer(booking, NOTEBOOK, entrypoint="python run.py -v", environment={"A": "1"})
        sid = await platform.launch(session)
        first = await platform.status(sid)
        assert first.state is RunState.PENDING and first.access == []
        assert first.ends is not None and first.ends > datetime.now(UTC)
        running = await wait_state(platform, sid, RunState.RUNNING)
        assert running.detail is None and running.access == []  # headless: nothing to connect to
        await wait_state(platform, sid, RunState.SUCCEEDED)
        [listed] = await skaha_sessions(url)
        assert (listed.id, listed.name, listed.type, listed.image) == (sid, session_name(session.meta.uuid),
                                                                       "headless", NOTEBOOK)
        assert (listed.requested_cpu_cores, listed.requested_ram_gb) == (1, 2)


async def test_interactive_launch_gives_an_access_url() -> None:
    async with site() as (url, platform, booking):
        sid = await platform.launch(await offer(booking, NOTEBOOK, cores=2, memory=4))
        running = await wait_state(platform, sid, RunState.RUNNING)
        assert len(running.access) == 1 and f"/session/notebook/{sid}/" in running.access[0]
        [listed] = await skaha_sessions(url)
        assert listed.type == "notebook"
        await asyncio.sleep(0.6)  # past the headless run time: interactive sessions keep running
        assert (await platform.status(sid)).state is RunState.RUNNING


async def test_launch_sends_command_args_and_env_to_skaha() -> None:
    """In process, to look at what the stand-in received (Skaha shows no cmd/env back)."""
    app = create_app(standin_config())
    client = SkahaClient("http://skaha.test", cache_ttl=0, transport=httpx.ASGITransport(app=app))
    platform = CanfarPlatform(settings("http://skaha.test"), client=client)
    booking = Booking.in_memory(platform, platform.settings)
    try:
        headless = await offer(booking, BATCH, entrypoint="python 'run.py' -v", environment={"A": "1", "B": "x y"})
        sim = app.state.store.sessions[await platform.launch(headless)]
        assert (sim.type, sim.cmd, sim.args, sim.env) == ("headless", "python", "run.py -v", ["A=1", "B=x y"])
        notebook = await offer(booking, NOTEBOOK, environment={"A": "1"})
        sim = app.state.store.sessions[await platform.launch(notebook)]
        assert (sim.type, sim.cmd, sim.env) == ("notebook", None, [])  # Skaha only applies env to headless
    finally:
        await platform.stop()


async def test_a_command_reaches_skaha_as_args_after_the_entrypoint_or_to_the_images_own() -> None:
    """2026-07 `command` is Docker's CMD: Skaha's `args` (its `cmd` replaces the entrypoint)."""
    app = create_app(standin_config())
    client = SkahaClient("http://skaha.test", cache_ttl=0, transport=httpx.ASGITransport(app=app))
    platform = CanfarPlatform(settings("http://skaha.test"), client=client)
    booking = Booking.in_memory(platform, platform.settings)
    try:
        both = await offer(booking, BATCH, entrypoint="python run.py", command=["--fast", "-n=3"])
        sim = app.state.store.sessions[await platform.launch(both)]
        assert (sim.type, sim.cmd, sim.args) == ("headless", "python", "run.py --fast -n=3")
        alone = await offer(booking, NOTEBOOK, command=["--fast"])  # a command makes it headless
        sim = app.state.store.sessions[await platform.launch(alone)]
        assert (sim.type, sim.cmd, sim.args) == ("headless", None, "--fast")
        for word in ("two words", 'say "hi"', ""):
            answer = await booking.offers(uuid4(), request(BATCH, command=["-v", word]), Preparation())
            assert answer.result is m.Result.NO, word
            assert f"Skaha cannot pass the argument '{word}' whole" in answer.messages[0].message
    finally:
        await platform.stop()


def test_session_type_choice() -> None:
    def docker(entrypoint: str | None = None, command: list[str] | None = None) -> m.DockerContainer:
        return m.DockerContainer(image={"locations": ["x"]}, entrypoint=entrypoint, command=command)

    assert session_type(docker(), ("notebook", "headless")) == "notebook"
    assert session_type(docker("run"), ("notebook", "headless")) == "headless"
    assert session_type(docker(command=["-v"]), ("notebook", "headless")) == "headless"
    assert session_type(docker(), ("headless",)) == "headless"
    assert session_type(docker(), ("desktop-app", "headless")) == "headless"
    assert session_type(docker(), ("carta",)) == "carta"
    assert session_type(docker(), ("headless", "firefly", "desktop")) == "firefly"
    name = session_name(uuid4())
    assert name.startswith("eb-") and len(name) == 15 and name == name.lower()


async def test_launch_is_idempotent_also_across_an_agent_restart() -> None:
    async with site() as (url, platform, booking):
        session = await offer(booking, NOTEBOOK)
        sid = await platform.launch(session)
        assert await platform.launch(session) == sid
        restarted = CanfarPlatform(platform.settings)  # fresh client, no memory of the launch
        try:
            assert await restarted.launch(session) == sid
        finally:
            await restarted.stop()
        assert [s.id for s in await skaha_sessions(url)] == [sid]


async def test_relaunch_of_a_finished_job_reports_it_instead_of_running_it_again() -> None:
    async with site() as (url, platform, booking):
        session = await offer(booking, BATCH, entrypoint="true")
        sid = await platform.launch(session)
        await wait_state(platform, sid, RunState.SUCCEEDED)
        assert await platform.launch(session) == sid
        assert len(await skaha_sessions(url)) == 1


async def test_failing_image_is_failed_with_detail() -> None:
    async with site() as (_, platform, booking):
        sid = await platform.launch(await offer(booking, BROKEN))  # headless only: no entrypoint needed
        failed = await wait_state(platform, sid, RunState.FAILED)
        assert failed.detail is not None and "Failed" in failed.detail and sid in failed.detail
        assert failed.access == []


async def test_image_withdrawn_after_the_offer_is_a_clear_error() -> None:
    async with site() as (url, platform, booking):
        session = await offer(booking, NOTEBOOK)
        gone = m.DockerContainer(image={"locations": ["images.canfar.net/skaha/withdrawn:1"]})
        with pytest.raises(LaunchError, match="no longer be launched: .*withdrawn:1 is not offered"):
            await platform.launch(session.model_copy(update={"executable": gone}))
        assert await skaha_sessions(url) == []


async def test_cancel_terminates_then_gone_and_twice_is_fine() -> None:
    async with site() as (_, platform, booking):
        sid = await platform.launch(await offer(booking, NOTEBOOK))
        await wait_state(platform, sid, RunState.RUNNING)
        await platform.cancel(sid)
        terminating = await platform.status(sid)
        assert (terminating.state, terminating.detail, terminating.access) == (RunState.STOPPING, None, [])
        gone = await wait_state(platform, sid, RunState.GONE)
        assert sid in (gone.detail or "")
        await platform.cancel(sid)  # already gone: no error


async def test_extend_renews_only_when_skaha_would_stop_it_earlier() -> None:
    async with site({"session_expiry_seconds": 1.5}) as (_, platform, booking):
        left = await platform.launch(await offer(booking, CARTA))
        kept = await platform.launch(await offer(booking, NOTEBOOK))
        started = time.monotonic()
        await wait_state(platform, kept, RunState.RUNNING)
        await asyncio.sleep(0.7 - (time.monotonic() - started))
        before = (await platform.status(kept)).ends
        await platform.extend(kept, datetime.now(UTC) + timedelta(hours=1))  # expiry is earlier: renew
        await platform.extend(left, datetime.now(UTC) - timedelta(minutes=1))  # expiry is later: nothing
        await asyncio.sleep(1.1)  # past both original expiry times (1.5 s), not the renewed one (2.2 s)
        extended = await platform.status(kept)
        assert extended.state is RunState.RUNNING and extended.ends is not None and extended.ends >= before
        expired = await platform.status(left)
        assert expired.state is RunState.FAILED and "expiry" in (expired.detail or "")
        await platform.extend(left, datetime.now(UTC) + timedelta(hours=1))  # finished: nothing to renew


async def test_status_of_an_unknown_id_is_gone() -> None:
    async with site() as (_, platform, booking):
        assert (await platform.status("nosuch12")).state is RunState.GONE
        await platform.extend("nosuch12", datetime.now(UTC) + timedelta(hours=1))  # nothing to extend


async def test_skaha_outage_raises_unavailable() -> None:
    async with site() as (url, platform, booking):
        session = await offer(booking, NOTEBOOK)
        sid = await platform.launch(session)
        async with httpx.AsyncClient() as http:
            (await http.post(url.control("outage"), json={"down": True})).raise_for_status()
        with pytest.raises(SkahaUnavailable):
            await platform.status(sid)
        with pytest.raises(SkahaUnavailable):
            await platform.launch(session)
        with pytest.raises(SkahaUnavailable):
            await platform.cancel(sid)
        async with httpx.AsyncClient() as http:
            (await http.post(url.control("outage"), json={"down": False})).raise_for_status()
        assert (await platform.status(sid)).state in (RunState.PENDING, RunState.RUNNING)


async def test_confirm_makes_a_reservation_firm_and_release_frees_it() -> None:
    async with site(total_cores=4, total_memory_gb=8) as (_, platform, booking):
        now = [datetime.now(UTC)]
        booking.ledger = SharedLedger(booking.ledger.total, clock=lambda: now[0])
        req = request(NOTEBOOK, cores=4, memory=8)  # the whole site

        first = await booking.offers(uuid4(), req, Preparation())
        taken, *others = first.offers
        assert others and len(booking.ledger) == len(first.offers)
        assert await booking.ledger.confirm(taken.meta.uuid)
        now[0] += timedelta(seconds=platform.settings.offer_expiry + 1)  # the offers expire ...
        assert len(booking.ledger) == 1  # ... but the accepted one holds on

        later = await booking.offers(uuid4(), req, Preparation())  # (the clock stays on: time never goes back)
        assert later.offers[0].schedule.preparing.start > taken.schedule.preparing.start  # after the taken block
        for o in later.offers:
            await booking.ledger.release(o.meta.uuid)
        await booking.ledger.release(taken.meta.uuid)  # the session ended: its capacity is free again
        assert len(booking.ledger) == 0
        again = await booking.offers(uuid4(), req, Preparation())
        assert again.offers[0].schedule.preparing.start <= taken.schedule.preparing.start + timedelta(seconds=2)


async def test_an_image_without_a_session_type_for_the_request_is_a_no_not_a_failed_launch() -> None:
    async with site() as (url, platform, booking):
        answer = await booking.offers(uuid4(), request(CARTA, entrypoint="run.sh"), Preparation())
        assert answer.result is m.Result.NO
        assert f"image {CARTA} is labelled carta: no session type to run it with an entrypoint" in \
            answer.messages[0].message


async def test_a_2026_07_command_accepted_over_the_broker_runs_in_skaha_as_the_pods_args(broker, site_config) -> None:
    """Over HTTP, NATS and the stand-in: the pod gets the entrypoint as command, its words + `command` as args."""
    from .test_sessions import AGENT, FAST, HEADLESS, offers_for, update, wait_phase

    s = await broker.add_site("site-a", site_config("site-a", **FAST), **AGENT)
    await broker.wait_for_agents(1)
    doc = {"executable": {"kind": m.kinds.spell(m.kinds.DOCKER_CONTAINER, "2026-07"),
                          "image": {"locations": [HEADLESS]}, "entrypoint": "casa --nogui",
                          "command": ["-c", "/arc/projects/x/calibrate.py"]},
           "compute": {"kind": m.kinds.spell(m.kinds.SIMPLE_COMPUTE, "2026-07"), "cores": {"min": 1}, "memory": {"min": 1}},
           "schedule": {"requested": {"duration": "PT1H"}}}
    offer = (await offers_for(broker, doc))[0]
    assert offer["executable"]["command"] == ["-c", "/arc/projects/x/calibrate.py"]
    assert (await update(broker, offer, "ACCEPTED")).status_code == 200
    await wait_phase(broker, offer, "RUNNING", "COMPLETED")
    async with httpx.AsyncClient() as http:
        [sid] = [x["id"] for x in (await http.get(f"{s.skaha}/v1/session")).json()]
        launched = (await http.get(s.skaha.control(f"sessions/{sid}"))).json()
    assert (launched["type"], launched["command"], launched["args"]) == (
        "headless", ["casa"], ["--nogui", "-c", "/arc/projects/x/calibrate.py"])
