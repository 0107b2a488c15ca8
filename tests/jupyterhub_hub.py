"""A real JupyterHub for integration tests, and the fixture that hands it out.

The hub (dummy authenticator, `SimpleLocalProcessSpawner`, named servers allowed) and its
configurable-http-proxy run on free loopback ports from the venv `scripts/jupyterhub/install.sh`
makes (var/jupyterhub/venv); their config (the one `ebroker up` writes: services/embedded/jupyterhub.py),
database and the users' home directories live in a fresh temporary directory. The broker's agent talks
to the hub as a service whose token holds the scopes the plug-in needs. A spawn hook turns the plug-in's
`user_options` into the spawner's limits (what a site's own hub config does for its spawner).

Usage in tests::

    def test_x(jupyterhub):                  # module-wide hub
        jupyterhub.api_url, jupyterhub.token, jupyterhub.public_url, jupyterhub.home("alice")

Without the venv the tests are skipped -- unless EB_REQUIRE_JUPYTERHUB=1: then the venv is made
(scripts/jupyterhub/install.sh) and any failure to start the hub fails them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from srcnet_eb.services.embedded.jupyterhub import venv, write_config

from .processes import run_group
from .required import unavailable

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "scripts" / "jupyterhub" / "install.sh"
START_TIMEOUT = 60.0
class JupyterHubUnavailable(RuntimeError):
    """The test hub could not be provisioned or started."""


@dataclass
class RunningHub:
    base: Path
    public_url: str  # the proxy: what users open
    api_url: str  # the hub's REST API (direct, not through the proxy)
    token: str  # the broker service's
    process: subprocess.Popen

    def home(self, user: str) -> Path:
        path = self.base / "home" / user
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stop(self) -> None:
        """The hub stops its servers and its proxy on SIGTERM; anything left is ended by its pid."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        for pid in _left_over(str(self.base)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.base, ignore_errors=True)


def _left_over(marker: str) -> list[int]:
    """Processes this hub started (its servers carry EB_HUB_BASE=<base>; its proxy names its pid file)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"EB_HUB_BASE={marker}".encode() in environ.split(b"\0") or f"{marker}/proxy.pid".encode() in cmdline:
            found.append(int(entry.name))
    return found


def provision() -> Path:
    found = venv()
    if found is not None:
        return found
    if os.environ.get("EB_REQUIRE_JUPYTERHUB") != "1":
        raise JupyterHubUnavailable("no JupyterHub venv (make it with scripts/jupyterhub/install.sh)")
    try:
        return Path(run_group([str(INSTALL)], timeout=900).strip().splitlines()[-1])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise JupyterHubUnavailable(f"scripts/jupyterhub/install.sh failed: {getattr(exc, 'stderr', exc)}") from exc


def start_hub() -> RunningHub:
    local = write_config(Path(tempfile.mkdtemp(prefix="eb-jupyterhub-")), provision())
    base = local.base
    log = open(base / "hub.log", "wb")
    process = subprocess.Popen(local.argv(), cwd=base, env=local.env(), stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    hub = RunningHub(base, local.public_url, local.api_url, local.token, process)
    deadline = time.monotonic() + START_TIMEOUT
    while True:  # ready: the hub answers its API, and through the proxy
        if process.poll() is not None:
            raise JupyterHubUnavailable(f"the hub exited ({process.returncode}): {_tail(base)}")
        try:
            direct = httpx.get(f"{hub.api_url}/", timeout=2)
            proxied = httpx.get(f"{hub.public_url}/hub/api/", timeout=2)
            if direct.status_code == proxied.status_code == 200:
                return hub
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            hub.stop()
            raise JupyterHubUnavailable(f"the hub did not answer within {START_TIMEOUT:g} s: {_tail(base)}")
        time.sleep(0.1)


def _tail(base: Path) -> str:
    try:
        return (base / "hub.log").read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def jupyterhub() -> Iterator[RunningHub]:
    """A running hub for the module (see the module docstring)."""
    try:
        hub = start_hub()
    except JupyterHubUnavailable as exc:
        unavailable("EB_REQUIRE_JUPYTERHUB", "a test JupyterHub", exc)
    try:
        yield hub
    finally:
        hub.stop()
