"""Child processes of the embedded default, stopped cleanly (TERM, then KILL) in reverse order. Each
remembers how it was started, so a supervisor can start it again in its place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    env: dict[str, str]


@dataclass
class Children:
    log_dir: Path
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    commands: dict[str, Command] = field(default_factory=dict)

    def spawn(self, name: str, module: str, env: dict[str, str], *args: str) -> subprocess.Popen:
        """`python -m module args…` with `env` added to ours, its output in `<log_dir>/<name>.log`."""
        return self.run(name, (sys.executable, "-m", module, *args), env)

    def run(self, name: str, argv: Iterable[str], env: dict[str, str]) -> subprocess.Popen:
        self.commands[name] = Command(tuple(argv), dict(env))
        proc = self._start(name)
        self.processes.append((name, proc))
        return proc

    def respawn(self, name: str) -> subprocess.Popen:
        """Start `name` again as it was started, in its place in the stop order."""
        proc = self._start(name)
        self.processes = [(n, proc if n == name else p) for n, p in self.processes]
        return proc

    def _start(self, name: str) -> subprocess.Popen:
        command = self.commands[name]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        child_env = {**os.environ, **command.env, "PYTHONUNBUFFERED": "1"}
        # Own process group: Ctrl-C reaches the supervisor only, which then stops children in order.
        proc = subprocess.Popen(list(command.argv), env=child_env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        log.close()
        return proc

    def get(self, name: str) -> subprocess.Popen:
        return dict(self.processes)[name]

    def failed(self) -> list[str]:
        return [name for name, proc in self.processes if proc.poll() is not None]

    def stop(self, timeout: float = 10.0) -> None:
        stop_processes([proc for _, proc in reversed(self.processes)], timeout)
        self.processes.clear()


def stop_processes(processes: Iterable[subprocess.Popen | None], timeout: float = 10.0, group: bool = False) -> None:
    """TERM every one (its whole process group with `group`), then wait; KILL any that outstays `timeout`."""
    running = [proc for proc in processes if proc is not None]
    for proc in running:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM) if group else proc.terminate()
    for proc in running:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
