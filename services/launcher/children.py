"""Child processes of the embedded default, stopped cleanly (TERM, then KILL) in reverse order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Children:
    log_dir: Path
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def spawn(self, name: str, module: str, env: dict[str, str], *args: str) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        child_env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        # Own process group: Ctrl-C reaches the launcher only, which then stops children in order.
        proc = subprocess.Popen([sys.executable, "-m", module, *args], env=child_env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append((name, proc))
        return proc

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
