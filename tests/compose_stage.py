"""compose.yaml brought up for real on this machine's Docker engine, for tests/test_compose_stage.py.

`require_engine()` says whether an engine and docker-compose are here (EB_REQUIRE_DOCKER=1: their absence
fails, never skips); `build_images()` runs scripts/images/build.sh (cached; it waits on the lock while CI's
background build runs); `ComposeStage` is one project of compose.yaml + tests/compose.ci.yaml under a
name of its own, on free loopback ports, with NATS keys made for it in a directory of its own, taken down
with its volumes whatever happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from srcnet_eb.services.embedded.ports import free_port

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "scripts" / "images" / "build.sh"
FILES = [REPO / "compose.yaml", REPO / "tests" / "compose.ci.yaml"]
SITES = ("site-a", "site-b", "site-c")
IMAGE_UID = 10001  # the image's user (Dockerfile), who reads the mounted secrets
BUILD_TIMEOUT = float(os.environ.get("EB_IMAGES_TIMEOUT", "1500"))  # cold: debootstrap, wheels, apt


def docker_client() -> str:
    """Debian's docker CLI (the engine's own version) when installed, else whatever `docker` is."""
    return "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else (shutil.which("docker") or "docker")


def require_engine() -> None:
    """Return when a Docker engine answers and docker-compose is installed; else fail (EB_REQUIRE_DOCKER=1)
    or skip, naming what is missing."""
    problem = None
    if shutil.which("docker-compose") is None:
        problem = "docker-compose is not installed"
    elif shutil.which(docker_client()) is None:
        problem = "no docker client"
    else:
        try:
            done = subprocess.run([docker_client(), "info"],
                                  capture_output=True, text=True, timeout=30)
            if done.returncode != 0:
                problem = f"no Docker engine answers: {done.stderr.strip()[-300:]}"
        except subprocess.TimeoutExpired:
            problem = "docker info took more than 30 s"
    if problem:
        if os.environ.get("EB_REQUIRE_DOCKER") == "1":
            pytest.fail(f"Docker is required (EB_REQUIRE_DOCKER=1) but: {problem}", pytrace=False)
        pytest.skip(problem)


def build_images() -> dict[str, str]:
    """scripts/images/build.sh; its EB_*_IMAGE lines (the images compose.yaml is to run)."""
    try:
        done = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, timeout=BUILD_TIMEOUT,
                              env={**os.environ, "DOCKER": docker_client()})
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/images/build.sh took more than {BUILD_TIMEOUT:.0f}s", pytrace=False)
    assert done.returncode == 0, f"scripts/images/build.sh failed:\n{done.stderr[-3000:]}"
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if line.startswith("EB_") and "=" in line)


def nats_keys(directory: Path) -> Path:
    """compose.yaml's NATS configurations with keys of this run's own (`ebroker nats-config`), the seeds
    readable by the image's user only. The committed deploy/nats stays untouched."""
    from srcnet_eb.services.ebroker.app import app
    from typer.testing import CliRunner

    args = ["nats-config", str(directory), *[a for s in SITES for a in ("--site", s)], "--leaf", "site-b"]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, f"ebroker nats-config failed: {done.output}"
    secrets = directory / "secrets"
    for path in [secrets, *secrets.rglob("*")]:
        os.chown(path, IMAGE_UID, -1)
    return directory


@dataclass
class ComposeStage:
    """One compose project. `env` holds compose.yaml's variables for this run (images, ports, paths)."""

    project: str
    env: dict[str, str]
    log_dir: Path
    started: bool = field(default=False, init=False)

    @classmethod
    def prepare(cls, root: Path, images: dict[str, str], **variables: str) -> ComposeStage:
        ports = {f"EB_NATS_PORT_{i}": free_port() for i in (1, 2, 3)} | {f"EB_LEAF_PORT_{i}": free_port() for i in (1, 2, 3)} \
            | {f"EB_GATEWAY_PORT_{i}": free_port() for i in (1, 2)}
        env = {**os.environ, **images, **{k: str(v) for k, v in ports.items()}, **variables,
               "EB_PUBLISH_HOST": "127.0.0.1",  # nothing of the stage listens beyond loopback
               "EB_NATS_CONFIG_DIR": str(nats_keys(root / "nats")),
               "DOCKER_CLIENT_TIMEOUT": "120", "COMPOSE_HTTP_TIMEOUT": "120"}
        return cls(project=f"ebstage{os.getpid()}", env=env, log_dir=root)

    def gateway(self, i: int) -> str:
        return f"http://127.0.0.1:{self.env[f'EB_GATEWAY_PORT_{i}']}"

    def compose(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["docker-compose", "--project-name", self.project, *[a for f in FILES for a in ("-f", str(f))], *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=REPO)
        if check and done.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed:\n{done.stderr[-3000:]}\n{self.logs()}")
        return done

    def up(self, timeout: float = 300) -> None:
        """Every service started, each once what it depends on is healthy (compose.yaml's health checks)."""
        self.started = True
        self.compose("up", "--detach", "--no-build", timeout=timeout)

    def unhealthy(self) -> list[str]:
        """Containers not running, or whose health check (compose.yaml) does not say healthy yet."""
        ids = self.compose("ps", "--quiet").stdout.split()
        done = subprocess.run([docker_client(), "inspect", "--format",
                               "{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}-{{end}}", *ids],
                              capture_output=True, text=True, timeout=60, check=True)
        states = [line.split() for line in done.stdout.splitlines()]
        return [" ".join(s) for s in states if s[1] != "running" or s[2] not in ("healthy", "-")]

    def wait_healthy(self, timeout: float = 120) -> None:
        def healthy() -> bool:
            waiting = self.unhealthy()
            if waiting:
                raise RuntimeError(f"waiting for {waiting}")
            return True

        wait_until("every container running and healthy", healthy, timeout, self)

    def container(self, service: str) -> str:
        return self.compose("ps", "--quiet", service).stdout.strip()

    def kill(self, service: str) -> None:
        """SIGKILL, as a crash would (restart: unless-stopped does not bring back a killed container)."""
        subprocess.run([docker_client(), "kill", self.container(service)], check=True, capture_output=True, timeout=60)

    def start(self, service: str) -> None:
        self.compose("start", service, timeout=120)

    def exec(self, service: str, *command: str, timeout: float = 60) -> str:
        done = subprocess.run([docker_client(), "exec", self.container(service), *command],
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{service}: {command} failed: {done.stderr[-2000:]}"
        return done.stdout

    def sql(self, query: str) -> list[list[str]]:
        """Rows of a query, run by psql inside the PostgreSQL container (it publishes no port)."""
        out = self.exec("postgres", "psql", "--username=broker", "--dbname=broker", "--no-align", "--tuples-only",
                        "--field-separator=|", "--command", query)
        return [line.split("|") for line in out.splitlines() if line]

    def http_inside(self, service: str, url: str) -> object:
        """GET url from inside a container of the stage (its networks, not this host's); the JSON answer."""
        code = f"import urllib.request as u, sys; sys.stdout.write(u.urlopen({url!r}, timeout=10).read().decode())"
        return json.loads(self.exec(service, "python", "-c", code))

    def logs(self, tail: int = 60) -> str:
        done = subprocess.run(["docker-compose", "--project-name", self.project,
                               *[a for f in FILES for a in ("-f", str(f))], "logs", "--no-color", f"--tail={tail}"],
                              capture_output=True, text=True, timeout=120, env=self.env, cwd=REPO)
        (self.log_dir / "compose.log").write_text(done.stdout)
        return f"--- docker-compose logs (last {tail} lines per service) ---\n{done.stdout[-20000:]}"

    def down(self) -> None:
        """Containers, networks and volumes gone (waits at most a minute)."""
        if not self.started:
            return
        self.started = False
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=180, check=False)


def wait_until(what: str, probe, timeout: float, stage: ComposeStage | None = None, interval: float = 0.5):
    """probe() until it returns something truthy; else fail naming `what` (and the compose logs)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - a probe may fail while things start; the last one is reported
            last = exc
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})\n{stage.logs() if stage else ''}")
