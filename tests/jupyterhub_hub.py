"""A real JupyterHub for integration tests, and the fixture that hands it out.

The hub (dummy authenticator, `SimpleLocalProcessSpawner`, named servers allowed) and its
configurable-http-proxy run on free loopback ports from the venv `scripts/jupyterhub/install.sh`
makes (var/jupyterhub/venv); their config, database and the users' home directories live in a
fresh temporary directory. The broker's agent talks to the hub as a service whose token holds the
scopes the plug-in needs. A spawn hook turns the plug-in's `user_options` into the spawner's limits
(what a site's own hub config does for its spawner).

Usage in tests::

    def test_x(jupyterhub):                  # module-wide hub
        jupyterhub.api_url, jupyterhub.token, jupyterhub.public_url, jupyterhub.home("alice")

Without the venv the tests are skipped -- unless EB_REQUIRE_JUPYTERHUB=1: then the venv is made
(scripts/jupyterhub/install.sh) and any failure to start the hub fails them.
"""

from __future__ import annotations

import os
import secrets
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

from srcnet_eb.services.embedded.ports import free_port

from .processes import run_group

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "scripts" / "jupyterhub" / "install.sh"
VENV = Path(os.environ.get("EB_JUPYTERHUB_VENV", REPO / "var" / "jupyterhub" / "venv"))
START_TIMEOUT = 60.0
SCOPES = ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"]

CONFIG = '''
import os
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.auth_token = "{proxy_token}"
c.ConfigurableHTTPProxy.command = ["{venv}/bin/configurable-http-proxy"]
c.ConfigurableHTTPProxy.pid_file = "{base}/proxy.pid"
c.JupyterHub.db_url = "sqlite:///{base}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{base}/cookie_secret"
c.JupyterHub.pid_file = "{base}/hub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{base}/home/{{username}}"
c.Spawner.cmd = ["{venv}/bin/jupyterhub-singleuser"]
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.poll_interval = 1  # a server that stopped is noticed at once
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.environment = {{"EB_TEST_HUB": "{base}"}}  # how the teardown finds the servers left over
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 0
c.JupyterHub.cleanup_servers = True
# Start and stop answer at once (202) instead of after up to 10 s: the plug-in follows the server's state.
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0, "slow_stop_timeout": 0}}
c.JupyterHub.services = [{{"name": "execution-broker", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "execution-broker", "scopes": {scopes!r},
                             "services": ["execution-broker"]}}]


def broker_options(spawner):
    """The broker's user_options as this spawner's limits (a KubeSpawner site maps them likewise)."""
    options = spawner.user_options or {{}}
    if options.get("cpu_limit"):
        spawner.cpu_limit = float(options["cpu_limit"])
    if options.get("mem_limit"):
        spawner.mem_limit = options["mem_limit"]
    spawner.environment = dict(spawner.environment, EB_IMAGE=str(options.get("image", "")),
                               EB_GPUS=str(options.get("gpus", 0)))


c.Spawner.pre_spawn_hook = broker_options
'''


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
    """Processes this hub started (its servers carry EB_TEST_HUB=<base>; its proxy names its pid file)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"EB_TEST_HUB={marker}".encode() in environ.split(b"\0") or f"{marker}/proxy.pid".encode() in cmdline:
            found.append(int(entry.name))
    return found


def provision() -> Path:
    if (VENV / "bin" / "jupyterhub").exists() and (VENV / "bin" / "configurable-http-proxy").exists():
        return VENV
    if os.environ.get("EB_REQUIRE_JUPYTERHUB") != "1":
        raise JupyterHubUnavailable(f"no JupyterHub venv at {VENV} (make it with scripts/jupyterhub/install.sh)")
    try:
        return Path(run_group([str(INSTALL)], timeout=900).strip().splitlines()[-1])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise JupyterHubUnavailable(f"scripts/jupyterhub/install.sh failed: {getattr(exc, 'stderr', exc)}") from exc


def start_hub() -> RunningHub:
    venv = provision()
    base = Path(tempfile.mkdtemp(prefix="eb-jupyterhub-"))
    token = secrets.token_hex(24)
    proxy_port, hub_port, api_port = free_port(), free_port(), free_port()
    (base / "jupyterhub_config.py").write_text(CONFIG.format(
        proxy_port=proxy_port, hub_port=hub_port, api_port=api_port, proxy_token=secrets.token_hex(24),
        venv=venv, base=base, token=token, scopes=SCOPES, args=["--allow-root"] if os.geteuid() == 0 else []))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "EB_"))}
    env["PATH"] = f"{venv}/bin:{env.get('PATH', '')}"
    log = open(base / "hub.log", "wb")
    process = subprocess.Popen([str(venv / "bin" / "jupyterhub"), "-f", str(base / "jupyterhub_config.py")],
                               cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    hub = RunningHub(base, f"http://127.0.0.1:{proxy_port}", f"http://127.0.0.1:{hub_port}/hub/api", token, process)
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
        if os.environ.get("EB_REQUIRE_JUPYTERHUB") == "1":
            pytest.fail(f"a test JupyterHub is required (EB_REQUIRE_JUPYTERHUB=1) but: {exc}", pytrace=False)
        pytest.skip(f"no test JupyterHub: {exc}")
    try:
        yield hub
    finally:
        hub.stop()
