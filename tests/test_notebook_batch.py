"""jupyter-notebook requests run headless on the batch platforms: Docker (the private engine, tests/docker_engine.py,
with the notebook image scripts/images/build.sh makes, loaded into it) and Slurm (the real test cluster, its jobs
running the venv of scripts/notebook/install.sh). A real notebook is executed top to bottom; the executed notebook
with its outputs, and the file a cell writes, are in the session's results folder; a cell that raises fails the
session naming its error; a location the site cannot reach is a NO naming executable.location.

Skipped without a Docker engine / Slurm / the notebook image or venv, unless EB_REQUIRE_DOCKER=1 /
EB_REQUIRE_SLURM=1 (then they fail)."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from srcnet_eb.services.docker_agent import plugin as docker_plugin
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.services.slurm_agent import plugin as slurm_plugin
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.capacity.ledger import SharedLedger
from srcnet_eb.shared.model import ExecutionRequest, kinds
from srcnet_eb.shared.platform.port import Preparation, RunState

from .follow import accepted_and_followed, offerset
from .processes import run_group
from .required import unavailable

# A cold machine builds the image (CI's background build.sh holds its lock meanwhile) and installs Slurm: minutes.
# The runs themselves are bounded by their own deadlines (60 s).
pytestmark = pytest.mark.timeout(1800)
BUILD_TIMEOUT = float(os.environ.get("EB_IMAGES_TIMEOUT", "1500"))
DOCKER = os.environ.get("DOCKER") or ("/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker")
REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_IMAGE = "srcnet/notebook:bookworm"
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
GOOD = ["print('hello from a cell')",
        "with open('result.txt', 'w') as out:\n    out.write(str(6 * 7))",
        "6 * 7"]
BAD = ["print('before the error')", "raise ValueError('no such column: flux')", "print('never')"]


def write(folder: Path, name: str, cells: list[str]) -> Path:
    """A notebook (nbformat 4) of code cells, as Jupyter writes it."""
    path = folder / name
    code = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
             "source": source} for i, source in enumerate(cells)]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "cells": code, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}))
    return path


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None: ...


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory):
    """A folder of notebooks (the sites' EB_NOTEBOOK_ROOT), also served over HTTP on a loopback port."""
    folder = tmp_path_factory.mktemp("notebooks")
    write(folder, "good.ipynb", GOOD)
    write(folder, "bad.ipynb", BAD)
    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(10)


def request(location: str, **extra) -> dict:
    return {"meta": {"name": "notebook test"},
            "executable": {"kind": kinds.JUPYTER_NOTEBOOK, "location": location},
            "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 1}},
            "schedule": {"requested": {"duration": "PT10M"}}} | extra


async def offer_for(booking: Booking, doc: dict):
    answer = await booking.offers(uuid.uuid4(), ExecutionRequest.model_validate(doc), Preparation())
    assert answer.result == "YES", answer.messages
    return answer.offers[0]


async def refusal(booking: Booking, doc: dict) -> str:
    answer = await booking.offers(uuid.uuid4(), ExecutionRequest.model_validate(doc), Preparation())
    assert answer.result == "NO", answer
    return " ".join(msg.message for msg in answer.messages)


async def run(platform, booking: Booking, doc: dict, timeout: float = 60):
    """Offer, launch, and the run's end: (its status, its results folder)."""
    offer = await offer_for(booking, doc)
    assert "run headless" in offer.meta.description and ".executed.ipynb" in offer.meta.description
    platform_id = await platform.launch(offer)
    deadline = time.monotonic() + timeout
    while (found := await platform.status(platform_id)).state not in (RunState.SUCCEEDED, RunState.FAILED):
        assert time.monotonic() < deadline, found
        await asyncio.sleep(0.2)
    return found, Path(await platform.outputs(platform_id))


def assert_executed(folder: Path) -> None:
    executed = json.loads((folder / "good.executed.ipynb").read_text())
    outputs = [o for cell in executed["cells"] for o in cell["outputs"]]
    assert any("hello from a cell" in "".join(o.get("text", "")) for o in outputs), outputs
    assert any("".join(o.get("data", {}).get("text/plain", "")) == "42" for o in outputs), outputs
    assert (folder / "result.txt").read_text() == "42"


async def both_ways(platform, booking, notebooks) -> None:
    """The good notebook from the site's folder, the bad one downloaded: run at once."""
    folder, url = notebooks
    (good, good_folder), (bad, _) = await asyncio.gather(
        run(platform, booking, request(str(folder / "good.ipynb"))),
        run(platform, booking, request(f"{url}/bad.ipynb")))
    assert good.state is RunState.SUCCEEDED, good
    assert_executed(good_folder)
    assert bad.state is RunState.FAILED
    assert "raise ValueError('no such column: flux')" in bad.detail, bad.detail
    assert "ValueError: no such column: flux" in bad.detail, bad.detail


async def unreachable(booking, notebooks) -> None:
    folder, url = notebooks
    elsewhere = f"http://127.0.0.1:{free_port()}/gone.ipynb"
    for location, said in ((elsewhere, "cannot be reached"), (f"{url}/missing.ipynb", "HTTP 404"),
                           ("/etc/passwd", "outside the folders"), (str(folder / "none.ipynb"), "not a file"),
                           ("work/my.ipynb", "relative")):
        why = await refusal(booking, request(location))
        assert "executable.location" in why and said in why, why


# --- Docker ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def notebook_engine(docker_engine):
    """The private engine holding the notebook image: built (cached) on the system engine, saved into this one."""
    try:
        run_group(["bash", str(REPO / "scripts" / "images" / "build.sh"), "notebook"], timeout=BUILD_TIMEOUT,
                  env={**os.environ, "DOCKER": DOCKER})
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        unavailable("EB_REQUIRE_DOCKER", "the notebook image", f"scripts/images/build.sh notebook failed: {getattr(exc, 'stderr', exc)}")
    save = subprocess.Popen([DOCKER, "save", NOTEBOOK_IMAGE], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with docker_engine.api() as api:
            answer = api.post("/images/load", params={"quiet": "1"}, headers={"Content-Type": "application/x-tar"},
                              content=iter(lambda: save.stdout.read(1 << 20), b""), timeout=300)
    finally:
        save.wait(60)
    if save.returncode != 0 or answer.status_code != 200 or '"error' in answer.text:
        unavailable("EB_REQUIRE_DOCKER", "the notebook image", f"loading {NOTEBOOK_IMAGE} failed: {answer.status_code} {answer.text[-300:]} "
                                         f"{save.stderr.read().decode(errors='replace')[-300:]}")
    return docker_engine


def docker_settings(engine, work_root: Path, notebooks, **changes):
    values = {"site": "docker-site", "nats_url": "nats://unused", "docker_host": engine.host, "total_cores": 2,
              "total_memory_gb": 4, "work_root": str(work_root), "prepare_seconds": 1, "release_seconds": 1,
              "poll_interval": 0.2, "notebook_root": [str(notebooks[0])]} | changes
    return docker_plugin.settings(**values)


@pytest.fixture
async def docker(notebook_engine, tmp_path, notebooks):
    s = docker_settings(notebook_engine, tmp_path, notebooks)
    platform = docker_plugin.create(s)
    await platform.start()
    yield platform, Booking.in_memory(platform, s)
    await platform.stop()


async def test_docker_runs_a_notebook_headless_and_fails_one_naming_its_cells_error(docker, notebooks):
    platform, booking = docker
    assert kinds.JUPYTER_NOTEBOOK in (await platform.capabilities()).executables
    await both_ways(platform, booking, notebooks)


async def test_docker_says_no_to_a_notebook_it_cannot_reach_or_an_image_it_lacks(docker, notebooks):
    platform, booking = docker
    await unreachable(booking, notebooks)
    doc = request(str(notebooks[0] / "good.ipynb"))
    doc["executable"]["image"] = {"locations": ["nowhere/jupyter:1"]}
    why = await refusal(booking, doc)
    assert "executable.image" in why and "nowhere/jupyter:1" in why, why


async def test_docker_runs_a_notebook_the_site_holds_under_its_data_paths_into_the_requests_storage(
        notebook_engine, tmp_path, notebooks):
    """A location EB_DATA_PATHS maps is read from the host (no download); a READWRITE storage mount is where the
    notebook runs and its results stay; a mapped location leaving its folder is a NO."""
    s = docker_settings(notebook_engine, tmp_path, notebooks, notebook_root=[],
                        data_paths={"https://data.example.org/nb/": f"{notebooks[0]}/"})
    platform = docker_plugin.create(s)
    booking = Booking.in_memory(platform, s)
    doc = request("https://data.example.org/nb/good.ipynb",
                  storage=[{"kind": kinds.SIMPLE_STORAGE, "meta": {"name": "out"}, "size": {"min": 1}}])
    doc["compute"]["volumes"] = [{"kind": kinds.SIMPLE_VOLUME, "path": "/out", "resource": "out",
                                  "mode": "READWRITE"}]
    try:
        found, folder = await run(platform, booking, doc)
        assert found.state is RunState.SUCCEEDED, found
        assert folder.name == "out"
        assert_executed(folder)
        why = await refusal(booking, request("https://data.example.org/nb/../../etc/passwd"))
        assert "executable.location" in why and "leaves the folder" in why, why
    finally:
        await platform.stop()


# --- Slurm -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def notebook_venv():
    try:
        return run_group(["bash", str(REPO / "scripts" / "notebook" / "install.sh")], timeout=900).strip()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        unavailable("EB_REQUIRE_SLURM", "the notebook venv", f"scripts/notebook/install.sh failed: {getattr(exc, 'stderr', exc)}")


def slurm_settings(slurm, venv: str, work_root: Path, notebooks, **changes):
    command = f"{venv}/bin/jupyter nbconvert --to notebook --execute --output-dir {{outputs}} " \
              f"--output {{executed}} {{notebook}}"
    values = {"site": "slurm-site", "nats_url": "nats://unused", "slurm_conf": slurm.conf,
              "total_cores": slurm.cpus, "total_memory_gb": max(1, slurm.memory_mb // 1024),
              "total_gpus": slurm.gpus, "partition": slurm.partition, "prepare_seconds": 1, "release_seconds": 1,
              "poll_interval": 0.2, "container_runtime": None, "work_root": str(work_root),
              "notebook_root": [str(notebooks[0])], "notebook_command": command} | changes
    return slurm_plugin.settings(**values)


@pytest.fixture
def slurm_site(slurm, notebook_venv, tmp_path, notebooks):
    from .slurm_cluster import cancel_all

    cancel_all(slurm)
    s = slurm_settings(slurm, notebook_venv, tmp_path, notebooks)
    platform = slurm_plugin.create(s)
    yield platform, Booking(platform, SharedLedger(slurm_plugin.capacity(s)), s), s
    cancel_all(slurm)


async def test_slurm_runs_a_notebook_headless_and_fails_one_naming_its_cells_error(slurm_site, notebooks):
    platform, booking, _ = slurm_site
    assert kinds.JUPYTER_NOTEBOOK in (await platform.capabilities()).executables
    await both_ways(platform, booking, notebooks)


async def test_slurm_says_no_to_a_notebook_it_cannot_reach_or_without_job_folders(slurm_site, notebooks):
    platform, booking, s = slurm_site
    await unreachable(booking, notebooks)
    bare = slurm_plugin.create(s.model_copy(update={"work_root": None}))
    why = await refusal(Booking(bare, SharedLedger(slurm_plugin.capacity(s)), s),
                        request(str(notebooks[0] / "good.ipynb")))
    assert "executable.kind" in why and "EB_WORK_ROOT" in why, why
    assert kinds.JUPYTER_NOTEBOOK not in (await bare.capabilities()).executables


# --- through the broker ----------------------------------------------------------------------------------------
async def test_one_offerset_from_docker_and_slurm_for_a_notebook_and_the_slurm_run_completes(
        broker, notebook_engine, slurm_site, notebooks, tmp_path):
    _, _, slurm_s = slurm_site
    broker.planner.tracker.sweep_interval = 0.2
    docker_s = docker_settings(notebook_engine, tmp_path / "docker", notebooks, nats_url=broker.nats_url,
                               heartbeat_interval=0.5)
    for plugin, s in ((docker_plugin, docker_s),
                      (slurm_plugin, slurm_s.model_copy(update={"nats_url": broker.nats_url, "heartbeat_interval": 0.5}))):
        agent = AgentRuntime.from_plugin(plugin, s)
        await agent.start()
        broker.stack.push_async_callback(agent.stop)
    await broker.wait_for_agents(2)
    body = await offerset(broker.http, request(f"{notebooks[1]}/good.ipynb"))
    assert {o["site"]["platform"] for o in body["offers"]} == {"docker", "slurm"}, body["meta"]["messages"]
    assert all("run headless" in o["meta"]["description"] for o in body["offers"]), body["offers"]
    chosen = next(o for o in body["offers"] if o["site"]["platform"] == "slurm")
    found = await accepted_and_followed(broker.http, chosen)
    assert found["phase"] == "COMPLETED", found.get("history")
    job = Path(slurm_s.work_root) / f"eb-{uuid.UUID(found['meta']['uuid']).hex[:12]}"
    assert_executed(job)
