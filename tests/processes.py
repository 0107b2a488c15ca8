"""Running the provisioning scripts of the test back ends (Rucio, Slurm)."""

from __future__ import annotations

import os
import signal
import subprocess


def run_group(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Run a command in its own process group; kill the whole group on timeout or interruption."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out, err)
    return out
