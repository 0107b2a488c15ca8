"""Running one Slurm command-line tool: the process, its environment and its time limit.

Every call runs one tool as an asyncio subprocess in its own process group, bounded by
``timeout`` (the whole group is killed when it runs out: with slurmctld away the tools retry
for several seconds per attempt). Nothing escapes but ``SlurmError(reason)`` -- Slurm refused
this request, ``reason`` is Slurm's own message -- and its subclass ``SlurmUnavailable(reason)``:
the controller cannot be reached (down, timeout, munge trouble, tool or config missing).

The tools run with ``TZ=UTC`` and ``SLURM_TIME_FORMAT=standard``, so every time they print or
read (``--begin``, "to start at", StartTime, ...) is ``YYYY-MM-DDTHH:MM:SS`` in UTC; datetimes
returned here are timezone-aware (UTC). Naive datetimes passed in are taken as local time.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence

from .output import ENV_DROP, Output, SlurmError, SlurmUnavailable, clean, is_unavailable


class SlurmTools:
    """Runs the Slurm tools (SlurmCLI, in slurmctl.py, is the commands themselves).

    conf: path of slurm.conf, exported to the tools as SLURM_CONF (default: the tools' own
    lookup: $SLURM_CONF of this process, /etc/slurm/slurm.conf, configless DNS).
    timeout: seconds any one tool may run before it is killed and SlurmUnavailable raised.
    bin_dir: directory holding the tools (default: $PATH).
    """

    def __init__(self, conf: str | None = None, timeout: float = 10.0, bin_dir: str | None = None) -> None:
        self.conf = conf
        self.timeout = timeout
        self.bin_dir = bin_dir
        self._sacct_completion: bool | None = None  # True: no slurmdbd, read the jobcomp log (-c)
        env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_DROP)}
        env.update(TZ="UTC", SLURM_TIME_FORMAT="standard", LC_ALL="C")
        if conf is not None:
            env["SLURM_CONF"] = str(conf)
        self._env = env

    def _argv0(self, tool: str) -> str:
        return os.path.join(self.bin_dir, tool) if self.bin_dir else tool

    async def _run(self, tool: str, args: Sequence[str], *, stdin: str | None = None) -> Output:
        """Run one tool; SlurmUnavailable when it cannot be started or outlives the timeout."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self._argv0(tool),
                *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self._env,
                start_new_session=True,
            )
        except OSError as exc:  # FileNotFoundError, PermissionError, ...
            raise SlurmUnavailable(f"cannot run {tool}: {exc}") from None
        try:
            out, err = await asyncio.wait_for(
                proc.communicate(stdin.encode() if stdin is not None else None), self.timeout
            )
        except TimeoutError:
            self._kill(proc)
            await proc.wait()
            raise SlurmUnavailable(f"{tool} did not answer within {self.timeout:g}s (slurmctld down?)") from None
        except BaseException:  # cancelled: do not leave the tool behind
            self._kill(proc)
            raise
        return Output(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))

    @staticmethod
    def _kill(proc: asyncio.subprocess.Process) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass

    @staticmethod
    def _error(tool: str, result: Output) -> SlurmError:
        message = clean(result.err) or clean(result.out) or f"{tool} failed with exit code {result.rc}"
        return SlurmUnavailable(message) if is_unavailable(message) else SlurmError(message)

    async def _call(self, tool: str, args: Sequence[str], *, stdin: str | None = None) -> str:
        """Run a tool that must succeed; its stdout."""
        result = await self._run(tool, args, stdin=stdin)
        if result.rc != 0:
            raise self._error(tool, result)
        return result.out
