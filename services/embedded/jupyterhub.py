"""Can a JupyterHub run here? The embedded default then adds a JupyterHub site: a hub of its own (dummy
authenticator, local processes, named servers) with its proxy, and the `jupyterhub` agent for it.

The hub, jupyterhub-singleuser and configurable-http-proxy come from the venv
`scripts/jupyterhub/install.sh` makes (var/jupyterhub/venv, or EB_JUPYTERHUB_VENV), never from the
broker's own environment. The tests' hub (tests/jupyterhub_hub.py) is written by the same `write_config`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from .ports import free_port

SITE = "jupyterhub-local"
SCOPES = ["admin:users", "admin:servers", "access:servers", "list:users", "read:users"]
SERVICE = "execution-broker"

CONFIG = '''
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
c.JupyterHub.authenticator_class = "dummy"  # development only: any name, any password
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{base}/home/{{username}}"
c.Spawner.cmd = ["{venv}/bin/jupyterhub-singleuser"]
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.poll_interval = 1  # a server that stopped is noticed at once
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.environment = {{"EB_HUB_BASE": "{base}"}}  # how a test's teardown finds servers left over
c.JupyterHub.allow_named_servers = True
c.JupyterHub.named_server_limit_per_user = 0
c.JupyterHub.cleanup_servers = True
# Start and stop answer at once (202) instead of after up to 10 s: the plug-in follows the server's state.
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0, "slow_stop_timeout": 0}}
c.JupyterHub.services = [{{"name": "{service}", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "{service}", "scopes": {scopes!r}, "services": ["{service}"]}}]


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


@dataclass(frozen=True)
class LocalHub:
    base: Path  # config, database, the users' homes
    venv: Path
    proxy_port: int
    hub_port: int
    token: str  # the broker service's

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    def argv(self) -> list[str]:
        return [str(self.venv / "bin" / "jupyterhub"), "-f", str(self.base / "jupyterhub_config.py")]

    def env(self) -> dict[str, str]:
        """The hub's environment: its venv first on PATH (the proxy, the single-user servers)."""
        found = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "EB_"))}
        return found | {"PATH": f"{self.venv}/bin:{os.environ.get('PATH', '')}"}

    def agent_env(self, cores: int = 4, memory_gb: int = 8) -> dict[str, str]:
        """EB_* settings of the `jupyterhub` agent for this hub."""
        return {"EB_SITE": SITE, "EB_HUB_API_URL": self.api_url, "EB_HUB_TOKEN": self.token,
                "EB_HUB_PUBLIC_URL": self.public_url, "EB_TOTAL_CORES": str(cores),
                "EB_TOTAL_MEMORY_GB": str(memory_gb), "EB_MAX_CORES": str(min(cores, 2)),
                "EB_MAX_MEMORY_GB": str(min(memory_gb, 4)), "EB_NOTEBOOK_ROOT": str(self.base / "home" / "{username}")}


def venv() -> Path | None:
    """The JupyterHub venv, if install.sh made it."""
    default = Path(__file__).resolve().parents[2] / "var" / "jupyterhub" / "venv"
    found = Path(os.environ.get("EB_JUPYTERHUB_VENV", default))
    # The marker is written last: a venv still being installed (CI installs it beside the tests) is not ready.
    ready = (found / ".eb-jupyterhub").exists() and (found / "bin" / "configurable-http-proxy").exists()
    return found if ready else None


def write_config(base: Path, hub_venv: Path) -> LocalHub:
    """A fresh hub configuration in `base`, on free loopback ports."""
    base.mkdir(parents=True, exist_ok=True)
    hub = LocalHub(base, hub_venv, free_port(), free_port(), secrets.token_hex(24))
    (base / "jupyterhub_config.py").write_text(CONFIG.format(
        proxy_port=hub.proxy_port, hub_port=hub.hub_port, api_port=free_port(), proxy_token=secrets.token_hex(24),
        venv=hub_venv, base=base, token=hub.token, scopes=SCOPES, service=SERVICE,
        args=["--allow-root"] if os.geteuid() == 0 else []))  # jupyter-server refuses root without it
    return hub


def detect(state: Path) -> LocalHub | None:
    """A hub to start under `state` (its config written), or None when JupyterHub is not installed."""
    found = venv()
    return write_config(state / "jupyterhub", found) if found is not None else None
