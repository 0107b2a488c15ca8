"""`ebroker up` as a user runs it, for tests: started in a subprocess on a --state folder, its banner read,
its children found by the state folder they name, stopped with Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

BANNER_END = "Ctrl-C stops everything"


def processes_mentioning(marker: str, module: str = "") -> list[int]:
    """PIDs (not zombies) whose environment or command line names the marker, and whose command line names
    `module` if given."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            status = (entry / "stat").read_text().split()[2]
            cmdline = (entry / "cmdline").read_bytes()
            text = (entry / "environ").read_bytes() + cmdline
        except OSError:
            continue
        if status != "Z" and marker.encode() in text and module.encode() in cmdline:
            found.append(int(entry.name))
    return found


class Up:
    def __init__(self, state: Path, port: int, *flags: str, **env: str) -> None:
        """`flags`: more `ebroker up` options; without any, only the demo sites (no Docker or JupyterHub site
        the machine could run: each test says which sites it wants)."""
        self.state, self.port, self.flags = state, port, flags or ("--no-docker", "--no-jupyterhub")
        self.env = {k: v for k, v in os.environ.items() if k not in ("EB_NATS_URL", "EB_DATABASE_URL")} | env
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> str:
        """Start it and return its banner once it says it is up."""
        self.proc = subprocess.Popen([sys.executable, "-m", "srcnet_eb.services.ebroker", "up", "--port", str(self.port),
                                      "--state", str(self.state), *self.flags], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=self.env)
        started = threading.Event()
        threading.Thread(target=self._read, args=(started,), daemon=True).start()
        assert started.wait(timeout), "".join(self.lines)
        return self.output()

    def _read(self, started: threading.Event) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            if BANNER_END in line:
                started.set()

    def output(self) -> str:
        return "".join(self.lines)

    def token(self) -> str:
        return re.search(r"token\s+(\S+)", self.output()).group(1)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30, headers={"Authorization": f"Bearer {self.token()}"})

    def child(self, module: str) -> int:
        pids = processes_mentioning(str(self.state), module)
        assert len(pids) == 1, (module, pids)
        return pids[0]

    def wait_for_line(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()}"
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:  # fail, but leave nothing running into the tests that follow
            for pid in [self.proc.pid, *processes_mentioning(str(self.state), "")]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise
        finally:
            self.proc = None
        return code
