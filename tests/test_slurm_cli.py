"""SlurmCLI against a real single-node Slurm (the `slurm` fixture of tests/slurm_cluster.py)."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from srcnet_eb.services.slurm_agent.slurmctl import TERMINAL_STATES, Accounting, SlurmCLI, SlurmError, SlurmUnavailable

from .slurm_cluster import SlurmCluster, cancel_all, fill_cluster

MINUTE = timedelta(minutes=1)


@pytest.fixture
def cli(slurm: SlurmCluster):
    cancel_all(slurm)  # every test starts on an empty cluster ...
    yield SlurmCLI(conf=slurm.conf, timeout=10)
    cancel_all(slurm)  # ... and leaves one


def now() -> datetime:
    return datetime.now(UTC)


def unique(prefix: str = "eb-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def scontrol_field(slurm: SlurmCluster, job: str, key: str) -> str:
    line = slurm.run("scontrol", "show", "job", "-o", job)
    match = re.search(rf"(?:^| ){key}=(\S*)", line)
    assert match, f"{key} not in: {line}"
    return match[1]


async def finished(cli: SlurmCLI, job: str, timeout: float = 30) -> Accounting:
    deadline = time.monotonic() + timeout
    while True:
        acc = await cli.accounting(job)
        if acc is not None and acc.state in TERMINAL_STATES:
            return acc
        assert time.monotonic() < deadline, f"job {job} not finished after {timeout}s: {acc}"
        await asyncio.sleep(0.2)


async def running(cli: SlurmCLI, job: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (state := await cli.queue_state(job)) != "RUNNING":
        assert time.monotonic() < deadline, f"job {job} not running after {timeout}s: {state}"
        await asyncio.sleep(0.1)


async def submit(cli: SlurmCLI, slurm: SlurmCluster, script: str, **kw) -> str:
    args = dict(
        name=unique(), cores=1, memory_mb=64, gpus=0, time_limit=MINUTE, begin=None, partition=slurm.partition, output=None
    )
    args.update(kw)
    return await cli.submit(script=script, **args)


# --- controller and predictions ---------------------------------------------------------------------


async def test_ping(cli):
    assert await cli.ping() is True


async def test_test_only_on_an_idle_cluster_starts_now(cli, slurm):
    before = now()
    result = await cli.test_only(
        cores=slurm.cpus, memory_mb=1024, gpus=slurm.gpus, time_limit=timedelta(hours=1), begin=None,
        partition=slurm.partition,
    )
    assert before - timedelta(seconds=2) <= result.start <= now() + timedelta(seconds=2)
    assert result.start.tzinfo is not None
    assert result.nodes == "localhost"
    assert result.partition == slurm.partition
    assert isinstance(result.job_id, int)
    assert await cli.find_by_name("eb-test-only") == []  # a prediction makes no job


async def test_test_only_on_a_full_cluster_starts_when_the_blocker_ends(cli, slurm):
    job = fill_cluster(slurm, 60)
    blocker_end = datetime.strptime(scontrol_field(slurm, job, "EndTime"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    result = await cli.test_only(
        cores=1, memory_mb=64, gpus=0, time_limit=MINUTE, begin=None, partition=slurm.partition
    )
    assert result.start == blocker_end
    assert result.start > now() + timedelta(seconds=40)
    # a GPU is free, but no core: the same answer
    gpu = await cli.test_only(cores=1, memory_mb=64, gpus=1, time_limit=MINUTE, begin=None, partition=None)
    assert gpu.start == blocker_end


async def test_test_only_with_begin_starts_at_begin(cli, slurm, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # this process's zone must not matter
    begin = (now() + timedelta(hours=2)).replace(microsecond=0)
    result = await SlurmCLI(conf=slurm.conf).test_only(
        cores=1, memory_mb=64, gpus=0, time_limit=MINUTE, begin=begin, partition=slurm.partition
    )
    assert result.start == begin


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cores": "cpus+1"}, "More processors requested than permitted"),
        ({"gpus": 2}, "Requested node configuration is not available"),
        ({"memory_mb": "memory+1"}, "Requested node configuration is not available"),
        ({"time_limit": timedelta(days=3)}, "Requested time limit is invalid"),
        ({"partition": "no-such-partition"}, "Invalid partition name specified"),
    ],
)
async def test_test_only_refuses_what_can_never_run(cli, slurm, change, message):
    request = dict(cores=1, memory_mb=64, gpus=0, time_limit=MINUTE, begin=None, partition=slurm.partition)
    request.update(change)
    if request["cores"] == "cpus+1":
        request["cores"] = slurm.cpus + 1
    if request["memory_mb"] == "memory+1":
        request["memory_mb"] = slurm.memory_mb + 1
    with pytest.raises(SlurmError) as info:
        await cli.test_only(**request)
    assert not isinstance(info.value, SlurmUnavailable)
    assert message in info.value.reason
    with pytest.raises(SlurmError) as info:  # sbatch refuses it the same way
        await cli.submit(name=unique(), script="true", output=None, **request)
    assert message in info.value.reason


async def test_bad_arguments_are_slurm_errors(cli, slurm):
    with pytest.raises(SlurmError):
        await cli.test_only(cores=0, memory_mb=64, gpus=0, time_limit=MINUTE, begin=None, partition=None)
    with pytest.raises(SlurmError):
        await cli.queue_state("12; rm -rf /")
    with pytest.raises(SlurmError):
        await cli.find_by_name("a,b")


# --- jobs -----------------------------------------------------------------------------------------------


async def test_a_job_completes(cli, slurm, tmp_path: Path):
    out = tmp_path / "out.txt"
    job = await submit(cli, slurm, "echo hi", output=str(out))
    assert job.isdigit()
    acc = await finished(cli, job)
    assert acc.state == "COMPLETED"
    assert acc.exit_code == "0:0"
    assert acc.start is not None and acc.end is not None and acc.start <= acc.end
    assert abs(acc.end - now()) < timedelta(seconds=30)
    assert await cli.queue_state(job) is None  # out of the queue, still known to scontrol
    assert out.read_text() == "hi\n"
    # the fallback for jobs the controller has forgotten: sacct -c (the jobcomp log)
    logged = await cli._sacct(job)
    assert logged is not None and (logged.state, logged.exit_code) == ("COMPLETED", "0:0")


async def test_a_failing_job(cli, slurm):
    job = await submit(cli, slurm, "#!/bin/bash\nexit 3\n")
    acc = await finished(cli, job)
    assert (acc.state, acc.exit_code) == ("FAILED", "3:0")
    assert acc.reason == "NonZeroExitCode"


async def test_a_gpu_job(cli, slurm, tmp_path: Path):
    out = tmp_path / "gpu.txt"
    job = await submit(cli, slurm, 'echo "gpus=$SLURM_JOB_GPUS"', gpus=1, output=str(out))
    acc = await finished(cli, job)
    assert acc.state == "COMPLETED"
    assert out.read_text().startswith("gpus=")


async def test_several_small_jobs_share_the_node(cli, slurm):
    jobs = [await submit(cli, slurm, "sleep 30", memory_mb=64) for _ in range(slurm.cpus)]
    for job in jobs:
        await running(cli, job)
    one_more = await cli.test_only(cores=1, memory_mb=64, gpus=0, time_limit=MINUTE, begin=None, partition=None)
    assert one_more.start > now() + timedelta(seconds=30)  # all cores taken


async def test_cancel(cli, slurm):
    job = await submit(cli, slurm, "sleep 60")
    await running(cli, job)
    assert (await cli.accounting(job)).state == "RUNNING"
    await cli.cancel(job)
    deadline = time.monotonic() + 15
    while await cli.queue_state(job) is not None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    acc = await cli.accounting(job)
    assert acc.state == "CANCELLED"
    assert acc.end is not None
    await cli.cancel(job)  # again: nothing happens
    await cli.cancel("999999")  # unknown: nothing happens


async def test_a_pending_job_with_begin(cli, slurm):
    begin = (now() + timedelta(hours=1)).replace(microsecond=0)
    job = await submit(cli, slurm, "true", begin=begin)
    assert await cli.queue_state(job) == "PENDING"
    acc = await cli.accounting(job)
    assert (acc.state, acc.reason, acc.start, acc.end) == ("PENDING", "BeginTime", None, None)
    assert scontrol_field(slurm, job, "EligibleTime") == begin.strftime("%Y-%m-%dT%H:%M:%S")


async def test_find_by_name(cli, slurm):
    name = unique("eb-find")
    later = now() + timedelta(hours=1)
    first = await submit(cli, slurm, "true", name=name)
    second = await submit(cli, slurm, "true", name=name, begin=later)
    await submit(cli, slurm, "true", name=name + "-other", begin=later)
    await finished(cli, first)
    assert await cli.find_by_name(name) == [first, second]  # finished ones too
    assert await cli.find_by_name(unique("eb-nobody")) == []


async def test_unknown_jobs(cli):
    assert await cli.queue_state("999999") is None
    assert await cli.accounting("999999") is None


# --- Slurm away -------------------------------------------------------------------------------------------


@pytest.fixture
def dead_conf(slurm: SlurmCluster, tmp_path: Path) -> str:
    """A copy of the cluster's config whose controller port has nobody listening."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free now, and nobody will listen on it
    etc = tmp_path / "etc"
    shutil.copytree(Path(slurm.conf).parent, etc)
    conf = etc / "slurm.conf"
    conf.write_text(re.sub(r"(?m)^SlurmctldPort=.*$", f"SlurmctldPort={port}", conf.read_text()))
    return str(conf)


async def test_controller_down_is_unavailable_within_the_timeout(dead_conf, slurm):
    cli = SlurmCLI(conf=dead_conf, timeout=2)
    calls = {
        "test_only": cli.test_only(cores=1, memory_mb=64, gpus=0, time_limit=MINUTE, begin=None, partition=None),
        "submit": submit(cli, slurm, "true"),
        "queue_state": cli.queue_state("1"),
        "accounting": cli.accounting("1"),
        "cancel": cli.cancel("1"),
        "find_by_name": cli.find_by_name("x"),
    }
    started = time.monotonic()
    assert await cli.ping() is False
    results = await asyncio.gather(*calls.values(), return_exceptions=True)
    elapsed = time.monotonic() - started
    assert elapsed < 4, elapsed
    for name, result in zip(calls, results, strict=True):
        assert isinstance(result, SlurmUnavailable), (name, result)


async def test_controller_down_message(dead_conf):
    """With time to spare, the tool's own verdict comes through (scancel gives up after ~4 s)."""
    cli = SlurmCLI(conf=dead_conf, timeout=10)
    with pytest.raises(SlurmUnavailable) as info:
        await cli.cancel("1")
    assert "Unable to contact slurm controller" in info.value.reason


async def test_missing_tools_are_unavailable(slurm, tmp_path):
    cli = SlurmCLI(conf=slurm.conf, bin_dir=str(tmp_path))
    assert await cli.ping() is False
    with pytest.raises(SlurmUnavailable):
        await cli.queue_state("1")
