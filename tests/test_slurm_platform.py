"""The Slurm platform over a real single-node Slurm: offers from sbatch --test-only, real jobs."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from srcnet_eb.services.slurm_agent import plugin as slurm_plugin
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.capacity.ledger import SharedLedger
from srcnet_eb.shared.model import ExecutionRequest, kinds
from srcnet_eb.shared.platform.conformance import PlatformConformance
from srcnet_eb.shared.platform.port import Preparation, RunState

from .follow import accepted_and_followed, offerset
from .slurm_cluster import cancel_all, fill_cluster

pytestmark = pytest.mark.timeout(300)
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def job(entrypoint: str = "true", cores: int = 1, gpus: int = 0, duration: str = "PT5M", **extra) -> dict:
    compute = {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": cores}, "memory": {"min": 1}}
    if gpus:
        compute["accelerators"] = [{"kind": "gpu", "count": {"min": gpus}}]
    return {"meta": {"name": "slurm test"},
            "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": ["docker.io/library/busybox:1"]},
                           "entrypoint": entrypoint},
            "compute": compute, "schedule": {"requested": {"duration": duration}}} | extra


def settings(slurm, **changes):
    values = {"site": "slurm-site", "nats_url": "nats://unused", "slurm_conf": slurm.conf,
              "total_cores": slurm.cpus, "total_memory_gb": max(1, slurm.memory_mb // 1024),
              "total_gpus": slurm.gpus, "partition": slurm.partition, "prepare_seconds": 1, "release_seconds": 1,
              "poll_interval": 0.2, "container_runtime": None} | changes
    return slurm_plugin.settings(**values)


def platform_for(slurm, **changes):
    s = settings(slurm, **changes)
    ledger = SharedLedger(slurm_plugin.capacity(s))
    platform = slurm_plugin.create(s)
    return platform, Booking(platform, ledger, s)  # its offers booked as the agent runtime books them


async def ask(booking: Booking, doc: dict):
    return await booking.offers(uuid.uuid4(), ExecutionRequest.model_validate(doc), Preparation())


@pytest.fixture
def idle(slurm):
    cancel_all(slurm)
    yield slurm
    cancel_all(slurm)


async def test_an_idle_cluster_offers_now(idle):
    platform, booking = platform_for(idle)
    answer = await ask(booking, job())
    assert answer.result == "YES", answer.messages
    first = answer.offers[0].schedule.preparing.start
    assert abs((first - datetime.now(UTC)).total_seconds()) < 90
    assert len(answer.offers) >= 2 and len(booking.ledger) == len(answer.offers)


async def test_a_full_cluster_offers_when_the_long_job_ends(idle):
    long_job = fill_cluster(idle, 600)  # every CPU for 10 minutes
    platform, booking = platform_for(idle)
    answer = await ask(booking, job())
    assert answer.result == "YES", answer.messages
    first = answer.offers[0].schedule.preparing.start
    wait = (first - datetime.now(UTC)).total_seconds()
    assert 400 < wait < 700, f"offered in {wait:.0f}s, the filling job ({long_job}) ends in ~600 s"


async def test_too_many_cores_and_a_second_gpu_are_no_with_slurms_reason(idle):
    platform, booking = platform_for(idle, total_cores=64, total_gpus=4)  # our ledger would allow it; Slurm will not
    answer = await ask(booking, job(cores=idle.cpus + 1))
    assert answer.result == "NO"
    text = answer.messages[0].message
    assert text.startswith("slurm-site: Slurm says:") and "more processors requested than permitted" in text.lower()
    answer = await ask(booking, job(gpus=idle.gpus + 1))
    assert answer.result == "NO" and "requested node configuration is not available" in answer.messages[0].message.lower()


async def test_open_offers_do_not_count_the_same_free_cores(idle):
    platform, booking = platform_for(idle)
    everything = job(cores=idle.cpus)
    first = await ask(booking, everything)
    second = await ask(booking, everything)
    starts = sorted((o.schedule.preparing.start, o.schedule.releasing.start) for o in first.offers + second.offers)
    for (_, end), (start, _) in zip(starts, starts[1:], strict=False):
        assert start >= end - timedelta(seconds=1), starts


async def test_a_real_job_runs_to_succeeded_and_a_failing_one_fails_with_its_exit_code(idle):
    platform, booking = platform_for(idle)
    good = (await ask(booking, job("echo hello"))).offers[0]
    bad = (await ask(booking, job("exit 3"))).offers[0]
    good_id, bad_id = await platform.launch(good), await platform.launch(bad)
    assert await platform.launch(good) == good_id  # idempotent by job name
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [(await platform.status(i)) for i in (good_id, bad_id)]
        if all(s.state in (RunState.SUCCEEDED, RunState.FAILED) for s in states):
            break
        await asyncio.sleep(0.3)
    assert states[0].state is RunState.SUCCEEDED
    assert states[1].state is RunState.FAILED and "exit code 3" in states[1].detail


async def test_cancel_removes_the_job(idle):
    platform, booking = platform_for(idle)
    offer = (await ask(booking, job("sleep 120"))).offers[0]
    job_id = await platform.launch(offer)
    await platform.cancel(job_id)
    for _ in range(100):
        if (await platform.status(job_id)).state is not RunState.RUNNING:
            break
        await asyncio.sleep(0.2)
    assert (await platform.status(job_id)).state in (RunState.FAILED, RunState.GONE)
    assert await platform.cli.queue_state(job_id) is None


async def test_slurmctld_down_is_no_with_a_message_quickly(idle, tmp_path):
    conf = tmp_path / "slurm.conf"
    conf.write_text(open(idle.conf).read().replace("SlurmctldPort=", "#SlurmctldPort=") + "\nSlurmctldPort=9\n")
    platform, booking = platform_for(idle, slurm_conf=str(conf), slurm_timeout=3)
    started = time.monotonic()
    answer = await ask(booking, job())
    assert answer.result == "NO" and "slurm-site: Slurm is unavailable" in answer.messages[0].message
    assert time.monotonic() - started < 15
    capabilities = await platform.capabilities()
    assert capabilities.reachable is False


class TestSlurmConformance(PlatformConformance):
    timeout = 60

    @pytest.fixture(autouse=True)
    def cluster(self, idle):
        self.slurm = idle

    async def make(self):
        platform, _ = platform_for(self.slurm)
        return platform, platform.settings

    def yes_request(self):
        return ExecutionRequest.model_validate(job("sleep 1"))

    def no_request(self):
        return ExecutionRequest.model_validate(job(cores=self.slurm.cpus + 8))


async def test_one_offerset_from_canfar_and_slurm_and_a_slurm_session_completes(broker, site_config, idle):
    broker.planner.tracker.sweep_interval = 0.2
    await broker.add_site("site-a", site_config("site-a", session_pending_seconds=0.3, session_run_seconds=1.0))
    agent = AgentRuntime.from_plugin(slurm_plugin, settings(idle, nats_url=broker.nats_url, heartbeat_interval=0.5))
    await agent.start()
    broker.stack.push_async_callback(agent.stop)
    await broker.wait_for_agents(2)
    doc = job("echo from slurm")
    doc["executable"]["image"]["locations"] = ["images.canfar.net/skaha/casa:6.6"]  # known to site-a too
    body = await offerset(broker.http, doc)
    platforms = {o["site"]["platform"] for o in body["offers"]}
    assert platforms == {"canfar", "slurm"}, body["meta"]["messages"]
    chosen = next(o for o in body["offers"] if o["site"]["platform"] == "slurm")
    found = await accepted_and_followed(broker.http, chosen, patience=90)
    assert found["phase"] == "COMPLETED", found.get("history")


async def test_a_command_runs_as_the_entrypoints_arguments_each_word_kept_whole(idle, tmp_path):
    """2026-07 `command`: the job's sh gets each argument as one word, spaces and quotes included."""
    platform, booking = platform_for(idle)
    out = tmp_path / "out.txt"
    doc = job("sh -c")
    doc["executable"]["command"] = ['printf "%s|" "$@" > "$0"', str(out), "two words", "it's"]
    offer = (await ask(booking, doc)).offers[0]
    job_id = await platform.launch(offer)
    deadline = time.monotonic() + 60
    while (state := await platform.status(job_id)).state not in (RunState.SUCCEEDED, RunState.FAILED):
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.3)
    assert state.state is RunState.SUCCEEDED, state
    assert out.read_text() == "two words|it's|"


async def test_a_template_without_a_place_for_the_command_is_no_saying_so(idle):
    platform, booking = platform_for(idle, command_template="{entrypoint}")
    doc = job("echo")
    doc["executable"]["command"] = ["hello"]
    answer = await ask(booking, doc)
    assert answer.result.value == "NO" and "takes no container command" in answer.messages[0].message
    assert (await ask(booking, job("echo hello"))).offers  # no command: the template still serves


async def test_a_command_without_an_entrypoint_needs_a_runtime_or_an_image_in_the_template(idle):
    doc = job("")
    del doc["executable"]["entrypoint"]
    doc["executable"]["command"] = ["-v"]
    answer = await ask(platform_for(idle)[1], doc)  # no runtime, default template: no image to run
    assert answer.result.value == "NO" and "a command needs an entrypoint here" in answer.messages[0].message
    platform, booking = platform_for(idle, command_template="podman run --rm {image} {command}")
    offer = (await ask(booking, doc)).offers[0]
    assert platform.command(offer) == "podman run --rm docker.io/library/busybox:1 -v"


async def test_under_apptainer_a_command_follows_the_entrypoint_or_goes_to_the_images_own(idle):
    platform, booking = platform_for(idle, container_runtime="apptainer")
    doc = job("sh -c")
    doc["executable"]["command"] = ["echo $0", "two words"]
    offer = (await ask(booking, doc)).offers[0]
    assert platform.command(offer) == "apptainer exec docker://docker.io/library/busybox:1 sh -c 'echo $0' 'two words'"
    del doc["executable"]["entrypoint"]
    offer = (await ask(booking, doc)).offers[0]
    assert platform.command(offer) == "apptainer run docker://docker.io/library/busybox:1 'echo $0' 'two words'"
