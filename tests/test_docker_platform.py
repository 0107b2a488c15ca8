"""The Docker platform over a private, real dockerd (tests/docker_engine.py) and a busybox image made here:
the conformance kit, resources really applied, exit codes, storage and data mounts, the image policy, and
a session end to end through the broker (real NATS, HTTP, SQLite)."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

import pytest
from srcnet_eb.services.docker_agent import plugin as docker_plugin
from srcnet_eb.services.docker_agent.spec import LABEL, create_body
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.model import ExecutionRequest, kinds
from srcnet_eb.shared.platform.conformance import PlatformConformance
from srcnet_eb.shared.platform.mounts import resolve
from srcnet_eb.shared.platform.port import Preparation, RunState

from .follow import accepted_and_followed, offerset

pytestmark = pytest.mark.timeout(120)
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
CORES = min(2, os.cpu_count() or 1)  # a container's --cpus may not exceed the host's


def job(script: str = "true", cores: int = 1, memory: int = 1, gpus: int = 0, image: str = "eb-test/busybox:1",
        **extra) -> dict:
    compute = {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": cores}, "memory": {"min": memory}}
    if gpus:
        compute["accelerators"] = [{"kind": "gpu", "count": {"min": gpus}}]
    return {"meta": {"name": "docker test"},
            "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [image]},
                           "entrypoint": "sh -c", "command": [script]},
            "compute": compute, "schedule": {"requested": {"duration": "PT5M"}}} | extra


@pytest.fixture(scope="module")
def work_root(tmp_path_factory):
    return tmp_path_factory.mktemp("docker-work")


def settings(engine, work_root, **changes):
    values = {"site": "docker-site", "nats_url": "nats://unused", "docker_host": engine.host, "total_cores": CORES,
              "total_memory_gb": 4, "work_root": str(work_root), "prepare_seconds": 1, "release_seconds": 1,
              "poll_interval": 0.2} | changes
    return docker_plugin.settings(**values)


def platform_for(engine, work_root, **changes):
    s = settings(engine, work_root, **changes)
    platform = docker_plugin.create(s)
    return platform, Booking.in_memory(platform, s)


async def offer_for(booking: Booking, doc: dict):
    answer = await booking.offers(uuid.uuid4(), ExecutionRequest.model_validate(doc), Preparation())
    assert answer.result == "YES", answer.messages
    return answer.offers[0]


async def ended(platform, platform_id: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while (found := await platform.status(platform_id)).state not in (RunState.SUCCEEDED, RunState.FAILED):
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.1)
    return found


@pytest.fixture
async def docker(docker_engine, work_root):
    platform, booking = platform_for(docker_engine, work_root)
    await platform.start()
    yield platform, booking
    await platform.stop()


class TestDockerConformance(PlatformConformance):
    @pytest.fixture(autouse=True)
    def engine(self, docker_engine, work_root):
        self.docker_engine, self.work_root = docker_engine, work_root

    async def make(self):
        s = settings(self.docker_engine, self.work_root)
        return docker_plugin.create(s), s

    def yes_request(self):
        return ExecutionRequest.model_validate(job("sleep 0.5"))

    def no_request(self):
        return ExecutionRequest.model_validate(job(cores=64))


async def test_cores_memory_network_and_labels_are_the_containers(docker, docker_engine):
    platform, booking = docker
    offer = await offer_for(booking, job("sleep 30", cores=CORES, memory=2))
    name = await platform.launch(offer, owner="alice")
    try:
        with docker_engine.api() as api:
            found = api.get(f"/containers/{name}/json").json()
        host = found["HostConfig"]
        assert (host["NanoCpus"], host["Memory"], host["NetworkMode"]) == (CORES * 10**9, 2 * 2**30, "none")
        labels = found["Config"]["Labels"]
        assert (labels[f"{LABEL}.session"], labels[f"{LABEL}.site"], labels[f"{LABEL}.owner"]) == (
            str(offer.meta.uuid), "docker-site", "alice")
        assert found["Config"]["Entrypoint"] == ["sh", "-c"] and found["Config"]["Cmd"] == ["sleep 30"]
        assert (await platform.status(name)).state is RunState.RUNNING
    finally:
        await platform.cancel(name)
    assert (await platform.status(name)).state is RunState.GONE
    await platform.cancel(name)  # gone: no error


async def test_an_exit_3_fails_naming_the_exit_code_and_the_last_output(docker):
    platform, booking = docker
    name = await platform.launch(await offer_for(booking, job("echo something broke >&2; exit 3")))
    found = await ended(platform, name)
    assert found.state is RunState.FAILED
    assert "exit code 3" in found.detail and "something broke" in found.detail, found.detail
    assert "something broke" in await platform.logs(name)


async def test_storage_receives_the_jobs_output_and_mapped_data_is_read_only(docker_engine, work_root, tmp_path):
    held = tmp_path / "held"
    held.mkdir()
    (held / "catalogue.txt").write_text("ra dec\n")
    platform, booking = platform_for(docker_engine, work_root, data_paths={"https://data.example.org/": f"{held}/"})
    doc = job("cat /data/catalogue.txt > /results/out.txt && echo done >> /results/out.txt && "
              "! (echo more >> /data/catalogue.txt) 2>/dev/null")
    doc["storage"] = [{"kind": kinds.SIMPLE_STORAGE, "meta": {"name": "results"}, "size": {"min": 1}}]
    doc["data"] = [{"kind": kinds.SIMPLE_DATA, "meta": {"name": "cat"},
                    "location": "https://data.example.org/catalogue.txt"}]
    doc["compute"]["volumes"] = [{"kind": kinds.SIMPLE_VOLUME, "path": "/results", "resource": "results"},
                                 {"kind": kinds.SIMPLE_VOLUME, "path": "/data/catalogue.txt", "resource": "cat"}]
    request = ExecutionRequest.model_validate(doc)
    assert platform.check_mounts(resolve(request, "docker-site", 100).mounts) == []
    name = await platform.launch(await offer_for(booking, doc))
    found = await ended(platform, name)
    assert found.state is RunState.SUCCEEDED, found.detail
    outputs = await platform.outputs(name)
    assert outputs is not None and outputs.startswith(str(work_root / "docker-site" / name))
    assert open(os.path.join(outputs, "out.txt")).read() == "ra dec\ndone\n"
    assert (held / "catalogue.txt").read_text() == "ra dec\n", "data is mounted read-only"
    await platform.cancel(name)
    assert await platform.outputs(name) == outputs, "the results stay for delivery after the container is gone"
    assert await platform.outputs("eb-" + uuid.uuid4().hex) is None
    await platform.stop()


async def test_unmapped_data_unknown_images_gpus_and_privilege_are_no_naming_the_field(docker):
    platform, booking = docker
    doc = job()
    doc["data"] = [{"kind": kinds.SIMPLE_DATA, "meta": {"name": "cat"}, "location": "https://elsewhere.org/x"}]
    doc["compute"]["volumes"] = [{"kind": kinds.SIMPLE_VOLUME, "path": "/data", "resource": "cat"}]
    [problem] = platform.check_mounts(resolve(ExecutionRequest.model_validate(doc), "docker-site", 100).mounts)
    assert "compute.volumes[0]" in problem.message and "not held on this Docker host" in problem.message
    for doc, field in ((job(image="registry.example.org/nope:1"), "executable.image"),
                       (job(gpus=1), "compute.accelerators"),
                       (job() | {"executable": job()["executable"] | {"privileged": True}}, "executable.privileged"),
                       (job() | {"executable": job()["executable"] | {"entrypoint": "sh -c 'open"}},
                        "executable.entrypoint")):
        answer = await booking.offers(uuid.uuid4(), ExecutionRequest.model_validate(doc), Preparation())
        assert answer.result == "NO" and field in answer.messages[0].message, answer.messages
    assert (await platform.capabilities()).images >= 1


async def test_a_site_with_gpus_asks_the_engine_for_them(docker_engine, work_root):
    platform, booking = platform_for(docker_engine, work_root, total_gpus=2, gpu_driver="nvidia")
    offer = await offer_for(booking, job(gpus=2))
    body = create_body(offer, "eb-test/busybox:1", platform._demand(offer.compute), site="s", network_mode="none",
                       mounts=[], gpu_driver="nvidia")  # (this host has no GPU to run it on)
    assert body["HostConfig"]["DeviceRequests"] == [{"Driver": "nvidia", "Count": 2, "Capabilities": [["gpu"]]}]
    await platform.stop()


async def test_the_allow_list_narrows_the_images_and_pull_policy_offers_to_pull(docker_engine, work_root):
    platform, booking = platform_for(docker_engine, work_root, images=["example.org/other:2"])
    answer = await booking.offers(uuid.uuid4(), ExecutionRequest.model_validate(job()), Preparation())
    assert answer.result == "NO" and "executable.image" in answer.messages[0].message
    assert (await platform.capabilities()).images == 0
    platform, booking = platform_for(docker_engine, work_root, images=["example.org/other:2"], pull="if-allowed")
    offer = await offer_for(booking, job(image="example.org/other:2"))
    assert "pulled at launch" in offer.meta.description
    assert (await platform.capabilities()).images == 1
    with pytest.raises(Exception, match="example.org"):  # no registry is reachable here: launch says why
        await platform.launch(offer)
    await platform.stop()


async def test_ended_containers_and_then_their_storage_are_swept_after_their_retention(docker_engine, tmp_path):
    platform, booking = platform_for(docker_engine, tmp_path, site="sweep-site", finished_retention=0,
                                     outputs_retention=None)  # (its own site: the others' containers are not its)
    doc = job("echo result > /out/r.txt")
    doc["storage"] = [{"kind": kinds.SIMPLE_STORAGE, "meta": {"name": "out"}, "size": {"min": 1}}]
    doc["compute"]["volumes"] = [{"kind": kinds.SIMPLE_VOLUME, "path": "/out", "resource": "out"}]
    running = await platform.launch(await offer_for(booking, job("sleep 30")))
    name = await platform.launch(await offer_for(booking, doc))
    assert (await ended(platform, name)).state is RunState.SUCCEEDED
    assert await platform.sweep() == 1
    assert (await platform.status(name)).state is RunState.GONE
    assert (await platform.status(running)).state is RunState.RUNNING, "a running container stays"
    assert (tmp_path / "sweep-site" / name / "out" / "r.txt").exists(), "outputs_retention empty: the results stay"
    platform.settings.outputs_retention = 0
    await platform.sweep()
    assert not (tmp_path / "sweep-site" / name).exists() and await platform.outputs(name) is None
    await platform.cancel(running)
    await platform.stop()


async def test_an_engine_that_does_not_answer_is_unreachable_not_a_crash(work_root, tmp_path):
    platform = docker_plugin.create(docker_plugin.settings(site="s", docker_host=f"unix://{tmp_path}/no.sock",
                                                           work_root=str(work_root)))
    found = await platform.capabilities()
    assert found.reachable is False and "does not answer" in found.detail
    await platform.stop()


async def run_through(broker, doc: dict) -> dict:
    """Post the request, accept its first offer, and follow the session to its end; the session's last form."""
    body = await offerset(broker.http, doc)
    assert body["result"] == "YES" and {o["site"]["platform"] for o in body["offers"]} == {"docker"}, body
    found = await accepted_and_followed(broker.http, body["offers"][0])
    if found["phase"] in ("COMPLETED", "FAILED"):
        return found
    raise AssertionError(f"not ended in 60 s: {found['phase']}")


async def test_docker_sessions_run_to_completed_and_failed_through_the_broker(broker, docker_engine, work_root):
    broker.planner.tracker.sweep_interval = 0.2
    agent = AgentRuntime.from_plugin(docker_plugin, settings(docker_engine, work_root, nats_url=broker.nats_url,
                                                             heartbeat_interval=0.5))
    await agent.start()
    broker.stack.push_async_callback(agent.stop)
    await broker.wait_for_agents(1)
    good = job("sleep 1; echo from docker > /results/said.txt")
    good["storage"] = [{"kind": kinds.SIMPLE_STORAGE, "meta": {"name": "results"}, "size": {"min": 1}}]
    good["compute"]["volumes"] = [{"kind": kinds.SIMPLE_VOLUME, "path": "/results", "resource": "results"}]
    done, failed = await asyncio.gather(run_through(broker, good), run_through(broker, job("sleep 1; exit 3")))
    assert done["phase"] == "COMPLETED", done.get("history")
    assert "RUNNING" in [step["phase"] for step in done["history"]]
    said = work_root / "docker-site" / f"eb-{uuid.UUID(done['meta']['uuid']).hex}" / "results" / "said.txt"
    assert said.read_text() == "from docker\n"
    assert failed["phase"] == "FAILED"
    assert "exit code 3" in json.dumps(failed["history"]), failed["history"]


def test_the_embedded_default_finds_an_engine_that_answers(docker_engine, tmp_path, monkeypatch):
    from srcnet_eb.services.embedded.docker import detect

    monkeypatch.setenv("DOCKER_HOST", docker_engine.host)
    found = detect(tmp_path)
    assert found is not None and found["EB_DOCKER_HOST"] == docker_engine.host
    assert found["EB_WORK_ROOT"] == str(tmp_path / "docker")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    assert detect(tmp_path) is None
