"""A real Rucio server for integration tests, and the fixtures that hand it out.

The server (PyPI `rucio`, pinned in scripts/rucio/server.sh) runs from its own virtualenv
under var/ -- it shares files with `rucio-clients`, so it never goes into the project venv --
with SQLite, gunicorn on 127.0.0.1 and the mock transfertool. This module talks to it only
through the real client library, `rucio-clients`, from the project venv.

Usage in tests (fixtures are imported into tests/conftest.py)::

    def test_x(rucio):                       # session-wide server, bootstrapped test data
        client = rucio.client()              # rucio.client.Client, root via userpass
        ...

    def test_y(rucio_fresh):                 # a server of its own (for tests that change data)
        rule_id = rucio_fresh.client().add_replication_rule(...)[0]
        rucio_fresh.run_conveyor()           # submitter + poller + finisher, once

The test data every server starts with: tests/rucio_data.py.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from srcnet_eb.services.embedded.ports import free_port

from .processes import run_group
from .required import unavailable
from .rucio_data import ACCOUNT, GB, MB, SCOPE, bootstrap, checksums  # noqa: F401  (the tests' names for them)

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "rucio" / "server.sh"
USERNAME = "ddmlab"
PASSWORD = "secret"
class RucioUnavailable(RuntimeError):
    """The Rucio server could not be provisioned or started."""


_run = run_group



_provision_failure: str | None = None


def _last_lines(text: str, n: int = 3) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def provision(timeout: float = 900) -> Path:
    """Create the server venv, or reuse it when it already holds the pinned versions.

    A failure is remembered for the rest of the process, so a machine without PyPI pays once.
    """
    global _provision_failure
    if _provision_failure is not None:
        raise RucioUnavailable(_provision_failure)
    try:
        return Path(_run(["bash", str(SCRIPT), "provision"], timeout=timeout).strip().splitlines()[-1])
    except subprocess.CalledProcessError as exc:
        _provision_failure = f"cannot provision the Rucio server venv: {_last_lines(exc.stderr)}"
    except subprocess.TimeoutExpired:
        _provision_failure = f"provisioning the Rucio server venv took more than {timeout:.0f}s"
    raise RucioUnavailable(_provision_failure)


@dataclass
class RucioServer:
    url: str
    base_dir: Path
    pid: int
    account: str = ACCOUNT
    username: str = USERNAME
    password: str = PASSWORD
    stopped: bool = field(default=False, init=False)

    @property
    def server_config(self) -> Path:
        """rucio.cfg of the server and its daemons (database URL etc.); not for clients."""
        return self.base_dir / "etc" / "rucio.cfg"

    @property
    def client_config(self) -> Path:
        """A rucio-clients config file for this server, for code that calls Client() bare."""
        return self.base_dir / "etc" / "client.cfg"

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for rucio.client.Client: no config file is needed with these."""
        return {
            "rucio_host": self.url,
            "auth_host": self.url,
            "account": self.account,
            "auth_type": "userpass",
            "creds": {"username": self.username, "password": self.password},
        }

    def client(self):
        from rucio.client import Client

        return Client(**self.client_kwargs())

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that uses rucio-clients with Client() and no arguments."""
        env = dict(os.environ)
        env.update(
            RUCIO_CONFIG=str(self.client_config),
            RUCIO_ACCOUNT=self.account,
            RUCIO_AUTH_TYPE="userpass",
        )
        return env

    def server_env(self) -> dict[str, str]:
        """Environment for the server venv's tools (daemons, rucio-admin as the server sees it)."""
        env = dict(os.environ)
        env["RUCIO_CONFIG"] = str(self.server_config)
        return env

    def run_conveyor(self, rounds: int = 1, steps: Sequence[str] | None = None, timeout: float = 120) -> None:
        run_conveyor(self, rounds=rounds, steps=steps, timeout=timeout)

    def stop(self) -> None:
        """Kill gunicorn (by pid); later calls do nothing."""
        if self.stopped:
            return
        self.stopped = True
        _kill(self.pid)
        try:
            _run(["bash", str(SCRIPT), "stop", str(self.base_dir)], timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass


def alive(pid: int) -> bool:
    """Running, not merely a zombie its (re)parent has yet to reap: gunicorn is started detached, so init reaps it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False  # gone between the two looks


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _kill(pid: int) -> None:
    """Stop a gunicorn master: SIGQUIT (gunicorn's quick shutdown), SIGKILL after 5 s; returns once it is gone."""
    try:
        os.kill(pid, signal.SIGQUIT)
    except (ProcessLookupError, PermissionError):
        return
    if _gone(pid, 5):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    _gone(pid, 10)


def _write_client_config(server: RucioServer) -> None:
    server.client_config.write_text(
        "[client]\n"
        f"rucio_host = {server.url}\n"
        f"auth_host = {server.url}\n"
        f"account = {server.account}\n"
        "auth_type = userpass\n"
        f"username = {server.username}\n"
        f"password = {server.password}\n"
        f"auth_token_file_path = {server.base_dir / 'client-token'}\n"
        "request_retries = 3\n"
    )


def start_rucio_server(base_dir: str | os.PathLike, port: int | None = None, *, data: bool = True) -> RucioServer:
    """Provision (venv reused), start on a fresh database in base_dir, and bootstrap test data.

    Raises RucioUnavailable when the venv cannot be made or the server does not come up.
    """
    base = Path(base_dir).resolve()
    base.mkdir(parents=True, exist_ok=True)
    provision()
    # a free port can be taken between the probe and gunicorn's bind: try a few
    ports = [port] if port else [free_port() for _ in range(3)]
    for attempt, candidate in enumerate(ports, 1):
        try:
            out = _run(
                ["bash", str(SCRIPT), "start", str(base), str(candidate)],
                timeout=180,
                env={**os.environ, "EB_RUCIO_OWNER_PID": str(os.getpid())},  # watchdog: dies with us
            )
            break
        except subprocess.CalledProcessError as exc:
            _run_quiet_stop(base)
            if attempt == len(ports):
                raise RucioUnavailable(f"the Rucio server did not start: {_last_lines(exc.stderr, 20)}") from exc
        except BaseException:
            _run_quiet_stop(base)
            raise
    url, pid = out.split()[-2:]
    server = RucioServer(url=url, base_dir=base, pid=int(pid))
    atexit.register(server.stop)
    _write_client_config(server)
    if data:
        try:
            bootstrap(server.client())
        except BaseException:
            server.stop()
            raise
    return server


def _run_quiet_stop(base: Path) -> None:
    try:
        _run(["bash", str(SCRIPT), "stop", str(base)], timeout=30)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pass


CONVEYOR_STEPS = ("preparer", "submitter", "poller", "finisher")


def run_conveyor(
    server: RucioServer, rounds: int = 1, steps: Sequence[str] | None = None, timeout: float = 120
) -> None:
    """Run the conveyor daemons once each per round, in one server-venv process (~2 s a call).

    steps: a subset of CONVEYOR_STEPS, run in the given order (default: all, in flow order).
    With the mock transfertool one round takes a transfer PREPARING -> QUEUED (preparer:
    source chosen by distance) -> SUBMITTED (submitter) -> DONE (poller) and the finisher
    then marks the replica AVAILABLE and the lock (and the rule, once all locks are) OK.
    """
    cmd = ["bash", str(SCRIPT), "conveyor", str(server.base_dir), str(rounds)]
    if steps is not None:
        unknown = set(steps) - set(CONVEYOR_STEPS)
        if unknown or not steps:
            raise ValueError(f"steps must be a non-empty subset of {CONVEYOR_STEPS}, not {steps!r}")
        cmd.append(",".join(steps))
    _run(cmd, timeout=timeout)


def _unavailable(reason: str):
    unavailable("EB_REQUIRE_RUCIO", "a Rucio server", reason)


@pytest.fixture(scope="session")
def rucio(tmp_path_factory):
    """A session-wide real Rucio server with the test data; treat it as read-only."""
    try:
        server = start_rucio_server(tmp_path_factory.mktemp("rucio"))
    except RucioUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rucio_fresh(tmp_path):
    """A real Rucio server of this test's own (fresh DB and test data), for tests that change data."""
    try:
        server = start_rucio_server(tmp_path / "rucio")
    except RucioUnavailable as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
