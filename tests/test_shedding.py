"""No NO from our own slowness. A saturated agent sheds load by saying so ("busy", before the deadline),
and the planner tells that apart from a site that did not answer; a planner behind its own work still
counts the answers that reached it in time. Real nats-server, a real planner and a real agent whose
platform's `propose` is held (the local example plug-in, held at a gate the test opens)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import nats

from examples.plugins.localexec import LocalPlatform, LocalSettings
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.services.planner.gather import Gatherer
from srcnet_eb.shared.agent.admission import Admission
from srcnet_eb.shared.model import ExecutionRequest, Result, kinds
from srcnet_eb.shared.platform.plugins import PlatformPlugin

REQUEST = ExecutionRequest.model_validate({
    "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": ["any"]}, "entrypoint": "true"},
    "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1}},
    "schedule": {"requested": {"duration": "PT10M"}}})


class HeldPlatform(LocalPlatform):
    """The local example, but every `propose` waits at a gate: the agent is as slow as the test wants."""

    gate: asyncio.Event
    entered: asyncio.Event

    async def propose(self, request):
        self.entered.set()
        await self.gate.wait()
        return await super().propose(request)


def held_plugin() -> PlatformPlugin:
    def create(settings: LocalSettings) -> HeldPlatform:
        platform = HeldPlatform(settings)
        platform.gate, platform.entered = asyncio.Event(), asyncio.Event()
        return platform

    return PlatformPlugin("held", LocalSettings, create)


async def start_held_agent(broker, site: str, **settings) -> AgentRuntime:
    agent = AgentRuntime.from_plugin(held_plugin(), LocalSettings(site=site, nats_url=broker.nats_url,
                                                                  heartbeat_interval=0.5, **settings))
    await agent.start()
    broker.stack.push_async_callback(agent.stop)
    return agent


async def quiet_site(broker, site: str):
    """A live site (it heartbeats) whose agent takes every offer question and never answers."""
    nc = await nats.connect(broker.nats_url)
    broker.stack.push_async_callback(nc.close)

    async def swallow(msg) -> None: ...

    await nc.subscribe(c.offers_subject(site), queue=site, cb=swallow)
    beat = c.Heartbeat(site=site, platform="quiet", agent=f"{site}-quiet", interval=60)
    await nc.publish(c.heartbeat_subject(site), beat.model_dump_json().encode())
    await nc.flush()


def says(outcome, site: str, words: str) -> bool:
    return any(site in m.model_dump_json() and words in m.model_dump_json() for m in outcome.messages)


async def test_a_stuck_site_answers_busy_in_time_and_the_planner_tells_it_from_a_silent_one(broker):
    broker.planner.settings.collect_timeout = 3.0
    held = await start_held_agent(broker, "site-held")
    await quiet_site(broker, "site-quiet")
    await broker.wait_for_agents(2)

    outcome = await broker.planner.plan(uuid.uuid4(), REQUEST)

    assert outcome.result is Result.NO
    assert says(outcome, "site-held", "is busy and did not judge this request")
    assert not says(outcome, "site-held", "did not answer")
    assert says(outcome, "site-quiet", "did not answer")
    assert held.platform.entered.is_set()  # it was asked, took it, and could not finish in time


async def test_a_full_agent_sheds_at_once_and_takes_work_again_when_free(broker):
    broker.planner.settings.collect_timeout = 3.0
    held = await start_held_agent(broker, "site-held", offer_queue=1)
    await broker.wait_for_agents(1)

    first = asyncio.create_task(broker.planner.plan(uuid.uuid4(), REQUEST))
    await held.platform.entered.wait()  # the one request it holds is in hand, held at the gate
    second = await broker.planner.plan(uuid.uuid4(), REQUEST)

    assert not first.done()  # answered while the first still waits: shed on arrival, not at the deadline
    assert says(second, "site-held", "is busy and did not judge this request")
    assert says(second, "site-held", "in hand would not be answered before this one's deadline")
    assert says(await first, "site-held", "could not answer before the deadline")

    held.platform.gate.set()  # free again: the next request is judged
    third = await broker.planner.plan(uuid.uuid4(), REQUEST)
    assert third.result is Result.YES, [m.model_dump_json() for m in third.messages]
    assert says(third, "site-held", "answered YES")


def test_the_admission_sheds_what_the_work_in_hand_would_not_finish_by_its_due_time():
    now = [100.0]
    gate = Admission(limit=3, clock=lambda: now[0])
    a = gate.admit(due=110.0)
    assert a is not None  # idle: always taken
    now[0] += 2.0
    gate.done(a)  # 2 s a request
    b, c_ = gate.admit(due=110.0), gate.admit(due=110.0)
    assert b is not None and c_ is not None  # 2 ahead of the second: 4 s < 10 s
    assert gate.admit(due=104.0) is None  # 2 ahead at 2 s each, 2 s left: past doubt
    assert gate.admit(due=200.0) is not None  # a patient one is taken...
    assert gate.admit(due=1000.0) is None  # ...up to the limit
    now[0] += 50.0
    for ticket in (b, c_):  # stuck, then given up: 50 s and 0 s
        gate.done(ticket)
    assert gate.pace > 15.0  # much slower now (2, 50 and 0 s)...
    assert gate.admit(due=now[0] + 9.0) is None  # ...so a request with 9 s left, one ahead, is shed at once


async def test_an_answer_that_reached_a_lagging_planner_in_time_is_not_called_silent(nats_url):
    """The planner's loop is busy (CPU) across the deadline while the site's answer lands in its inbox,
    behind a burst of other answers."""
    offerset, asked, replied = uuid.uuid4(), threading.Event(), threading.Event()
    answer = c.SiteAnswer(offerset=offerset, site="site-a", platform="p", agent="a", result=Result.NO)

    def site() -> None:  # the site's agent: its own loop and connection, in a thread
        async def serve() -> None:
            nc = await nats.connect(nats_url)

            async def reply(msg) -> None:
                asked.set()
                inbox = msg.reply.rsplit(".", 2)[0]
                for i in range(2000):  # a burst's other answers (late ones: other gathers), ahead of ours
                    await nc.publish(f"{inbox}.earlier{i}.site-a", b"{}")
                await msg.respond(answer.model_dump_json().encode())
                await nc.flush()
                replied.set()

            await nc.subscribe("lag.site-a", cb=reply)
            await nc.flush()
            ready.set()
            await asyncio.to_thread(done.wait)
            await nc.close()

        asyncio.run(serve())

    ready, done = threading.Event(), threading.Event()
    thread = threading.Thread(target=site)
    thread.start()
    nc = await nats.connect(nats_url)
    gatherer = Gatherer(nc, "lagging")
    await gatherer.start()
    try:
        await asyncio.to_thread(ready.wait)
        loop = asyncio.get_running_loop()
        timeout = 0.3
        end = loop.time() + timeout + 0.1  # past the gather's deadline, which is set just after this

        async def busy_planner() -> None:
            await asyncio.to_thread(asked.wait)
            replied.wait()  # (blocking: the loop reads nothing from here on...)
            while loop.time() < end:  # ...and computes past the deadline
                pass

        lag = asyncio.create_task(busy_planner())
        got = await gatherer.gather(offerset, ["site-a"], lambda s: f"lag.{s}", lambda s: b"{}", c.SiteAnswer,
                                    timeout)
        await lag
        assert set(got.answers) == {"site-a"} and not got.silent
    finally:
        done.set()
        await gatherer.stop()
        await nc.close()
        await asyncio.to_thread(thread.join)
