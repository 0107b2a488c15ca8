"""A real single-node Slurm for integration tests, and the fixture that hands it out.

The cluster comes from Debian packages (munge, slurmctld, slurmd, slurm-client; installed by
scripts/slurm/up.sh when missing) and runs as root: slurmctld and slurmd on 127.0.0.1 with
free ports, a private munged, one node "localhost" of this machine's size with one fake GPU
(gres gpu:fake:1), one partition. Everything lives in a fresh directory under /tmp and is
stopped (scripts/slurm/down.sh, by pid) and removed at the end of the session -- or, should
the session die without its teardown, by the watchdog up.sh leaves behind.

Usage in tests (the fixture is imported into tests/conftest.py)::

    async def test_x(slurm):                     # session-wide cluster
        cli = SlurmCLI(conf=slurm.conf)          # tools and agents need SLURM_CONF
        subprocess.run(["squeue"], env=slurm.env())
        slurm.cpus, slurm.memory_mb, slurm.gpus, slurm.partition
        job = fill_cluster(slurm, 60)            # every CPU busy for 60 s (a 1-minute job)
        cancel_all(slurm)                        # and empty again

Without root, or when the packages cannot be installed, tests using the fixture are skipped
-- unless EB_REQUIRE_SLURM=1, then they fail. EB_SLURM_BASE=<dir> uses (and leaves running)
a cluster started there beforehand with ``SLURM_BASE=<dir> scripts/slurm/up.sh``.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from srcnet_eb.services.embedded.ports import free_port

from .processes import run_group
from .required import unavailable

REPO = Path(__file__).resolve().parents[1]
UP = REPO / "scripts" / "slurm" / "up.sh"
DOWN = REPO / "scripts" / "slurm" / "down.sh"
PARTITION = "debug"
#: first start may install packages with apt-get
UP_TIMEOUT = float(os.environ.get("EB_SLURM_UP_TIMEOUT", "900"))


class SlurmClusterUnavailable(RuntimeError):
    """The test cluster could not be provisioned or started."""


_run = run_group
_free_port = free_port



@dataclass
class SlurmCluster:
    base: Path
    conf: str  # slurm.conf: export it as SLURM_CONF for the tools (SlurmCLI(conf=...))
    cpus: int
    memory_mb: int
    gpus: int
    partition: str
    owned: bool = True  # started by this session (stopped and removed at its end)
    stopped: bool = field(default=False, init=False)

    def env(self) -> dict[str, str]:
        """os.environ plus SLURM_CONF, for subprocesses using the Slurm tools."""
        return {**os.environ, "SLURM_CONF": self.conf}

    def run(self, *args: str, timeout: float = 30, stdin: str | None = None) -> str:
        """Run a Slurm tool against this cluster; its stdout (CalledProcessError on failure)."""
        return _run(list(args), timeout=timeout, env={**self.env(), "TZ": "UTC"}, stdin=stdin)

    def stop(self) -> None:
        """down.sh and remove the base directory (only for a cluster this session started)."""
        if self.stopped or not self.owned:
            return
        self.stopped = True
        try:
            _run(["bash", str(DOWN)], timeout=120, env={**os.environ, "SLURM_BASE": str(self.base)})
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.base, ignore_errors=True)


def _node_facts(conf: str) -> tuple[int, int, int]:
    env = {**os.environ, "SLURM_CONF": conf}
    line = _run(["scontrol", "show", "node", "-o", "localhost"], timeout=30, env=env)
    facts = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
    gpus = sum(int(n) for n in re.findall(r"gpu(?::[^:(,]+)?:(\d+)", facts.get("Gres", "")))
    return int(facts["CPUTot"]), int(facts["RealMemory"]), gpus


def start_cluster() -> SlurmCluster:
    """Provision (when needed) and start a cluster of its own; SlurmClusterUnavailable if impossible."""
    reuse = os.environ.get("EB_SLURM_BASE")
    if os.geteuid() != 0:
        raise SlurmClusterUnavailable("the test Slurm needs root (apt-get, munged, slurmctld, slurmd)")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        raise SlurmClusterUnavailable("Slurm is not installed and there is no apt-get to install it")
    base = Path(reuse) if reuse else Path(tempfile.mkdtemp(prefix="eb-slurm-"))
    env = {
        **os.environ,
        "SLURM_BASE": str(base),
        "EB_SLURM_PARTITION": PARTITION,
    }
    if not reuse:
        env.update(
            EB_SLURMCTLD_PORT=str(_free_port()),
            EB_SLURMD_PORT=str(_free_port()),
            EB_SLURM_OWNER_PID=str(os.getpid()),
        )
    try:
        conf = _run(["bash", str(UP)], timeout=UP_TIMEOUT, env=env).strip().splitlines()[-1]
        cpus, memory_mb, gpus = _node_facts(conf)
    except subprocess.CalledProcessError as exc:
        tail = "\n".join((exc.stderr or "").strip().splitlines()[-5:])
        if not reuse:
            SlurmCluster(base, "", 0, 0, 0, PARTITION).stop()
        raise SlurmClusterUnavailable(f"scripts/slurm/up.sh failed: {tail}") from None
    except subprocess.TimeoutExpired:
        if not reuse:
            SlurmCluster(base, "", 0, 0, 0, PARTITION).stop()
        raise SlurmClusterUnavailable(f"scripts/slurm/up.sh took more than {UP_TIMEOUT:.0f}s") from None
    return SlurmCluster(
        base=base, conf=conf, cpus=cpus, memory_mb=memory_mb, gpus=gpus, partition=PARTITION, owned=not reuse
    )


@pytest.fixture(scope="session")
def slurm():
    """A running single-node Slurm for the whole session (see the module docstring)."""
    try:
        cluster = start_cluster()
    except SlurmClusterUnavailable as exc:
        unavailable("EB_REQUIRE_SLURM", "a test Slurm", exc)
    try:
        yield cluster
    finally:
        cluster.stop()


def _active(slurm: SlurmCluster) -> list[str]:
    return slurm.run("squeue", "-h", "-o", "%i").split()


def fill_cluster(slurm: SlurmCluster, seconds: float, *, gpus: bool = False, wait: float = 30) -> str:
    """Submit a job that holds every CPU (and the GPUs when ``gpus``) for ``seconds``; its id,
    once it runs. Its time limit is ``seconds`` rounded up to whole minutes (Slurm's unit), so
    ``sbatch --test-only`` expects the cluster back at its start plus that limit."""
    args = [
        "sbatch",
        "--parsable",
        "--job-name=eb-fill",
        f"--partition={slurm.partition}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={slurm.cpus}",
        "--mem=64M",
        f"--time={max(1, math.ceil(seconds / 60))}",
        "--output=/dev/null",
    ]
    if gpus and slurm.gpus:
        args.append(f"--gres=gpu:{slurm.gpus}")
    job = slurm.run(*args, stdin=f"#!/bin/sh\nsleep {seconds}\n").strip().split(";")[0]
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if slurm.run("squeue", "-h", "-j", job, "-o", "%T").strip() == "RUNNING":
            return job
        time.sleep(0.1)
    raise AssertionError(f"fill job {job} did not start within {wait}s")


def cancel_all(slurm: SlurmCluster, wait: float = 30) -> None:
    """Cancel every job of the cluster and wait until none is pending, running or completing."""
    if not _active(slurm):
        return
    slurm.run("scancel", "--full", f"--partition={slurm.partition}")
    deadline = time.monotonic() + wait
    while _active(slurm):
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still active {wait}s after scancel: {_active(slurm)}")
        time.sleep(0.1)
