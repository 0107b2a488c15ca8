"""The Slurm commands the agent uses (sbatch, squeue, scontrol, sacct, scancel), as coroutines.

Each call runs one tool (tools.py: in its own process group, bounded by a timeout, with ``TZ=UTC``
and ``SLURM_TIME_FORMAT=standard``); nothing escapes but ``SlurmError(reason)`` and its subclass
``SlurmUnavailable(reason)``. Datetimes returned are timezone-aware (UTC).

Formats parsed (Slurm 22.05.8, Debian 12):

* ``sbatch --test-only`` (stderr, exit 0)::

      sbatch: Job 12 to start at 2026-11-22T05:00:00 using 2 processors on nodes localhost in partition debug

  refusals (exit 1), e.g. ``allocation failure: Requested node configuration is not available``,
  ``allocation failure: More processors requested than permitted``, ``allocation failure:
  Requested time limit is invalid (missing or exceeds some limit)``; controller away:
  ``allocation failure: Unable to contact slurm controller (connect failure)``.
  The printed job id is consumed but no job is created.
* ``sbatch --parsable`` (stdout) ``47`` or ``47;cluster``; refusals on stderr
  ``sbatch: error: Batch job submission failed: <reason>``.
* ``squeue -h -j ID -o %T``: ``RUNNING``, ``PENDING``, ...; empty once the job has finished
  (even while slurmctld still knows it); ``slurm_load_jobs error: Invalid job id specified``
  (exit 1) once it is forgotten.
* ``scontrol show job -o ID``: one line of ``Key=Value`` pairs (JobState=FAILED Reason=...
  ExitCode=3:0 StartTime=... EndTime=...); ``slurm_load_jobs error: Invalid job id specified``
  (exit 1) for an unknown job. Finished jobs stay for MinJobAge seconds.
* ``sacct -P -n -X -o JobID,State,ExitCode,Start,End -j ID``: ``13|FAILED|3:0|2026-...|2026-...``
  (State may read ``CANCELLED by 0``). Without slurmdbd it fails with ``Slurm accounting
  storage is disabled``; then ``sacct -c`` (the same columns read from the jobcomp/filetxt log,
  local to the controller's machine) is used. ``accounting()`` asks ``scontrol`` first and falls
  back to sacct only for jobs the controller has forgotten.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from .output import (
    JOB_ID, TEST_ONLY, UNKNOWN_JOB, TERMINAL_STATES, Accounting, SlurmError, SlurmUnavailable, TestResult, clean,
    key_values, minutes, parse_time, sacct_row, slurm_time,
)
from .tools import SlurmTools

__all__ = ["Accounting", "SlurmCLI", "SlurmError", "SlurmUnavailable", "TestResult", "TERMINAL_STATES"]


class SlurmCLI(SlurmTools):
    """The Slurm commands, as coroutines (made as SlurmTools are: conf, timeout, bin_dir)."""

    @staticmethod
    def _resources(
        cores: int,
        memory_mb: int,
        gpus: int,
        time_limit: timedelta,
        begin: datetime | None,
        partition: str | None,
    ) -> list[str]:
        if not isinstance(cores, int) or cores < 1:
            raise SlurmError(f"cores must be a positive integer, not {cores!r}")
        if not isinstance(memory_mb, int) or memory_mb < 1:
            raise SlurmError(f"memory_mb must be a positive integer, not {memory_mb!r}")
        if not isinstance(gpus, int) or gpus < 0:
            raise SlurmError(f"gpus must be a non-negative integer, not {gpus!r}")
        if not isinstance(time_limit, timedelta) or time_limit <= timedelta(0):
            raise SlurmError(f"time_limit must be a positive timedelta, not {time_limit!r}")
        args = [
            "--nodes=1",
            "--ntasks=1",
            f"--cpus-per-task={cores}",
            f"--mem={memory_mb}M",
            f"--time={minutes(time_limit)}",
        ]
        if gpus:
            args.append(f"--gres=gpu:{gpus}")
        if begin is not None:
            try:
                args.append(f"--begin={slurm_time(begin)}")
            except (ValueError, OverflowError, OSError) as exc:
                raise SlurmError(f"bad begin time {begin!r}: {exc}") from None
        if partition:
            args.append(f"--partition={partition}")
        return args

    @staticmethod
    def _job_id(job_id: str | int) -> str:
        text = str(job_id).strip()
        if not JOB_ID.match(text):
            raise SlurmError(f"not a Slurm job id: {job_id!r}")
        return text

    async def test_only(
        self,
        *,
        cores: int,
        memory_mb: int,
        gpus: int = 0,
        time_limit: timedelta,
        begin: datetime | None = None,
        partition: str | None = None,
    ) -> TestResult:
        """When and where a job of this size would start (``sbatch --test-only``); no job is made.

        Impossible requests raise SlurmError with Slurm's message, e.g. "Requested node
        configuration is not available" (needs EnforcePartLimits=ALL for partition limits).
        Note (Slurm 22.05): an earlier, higher-priority pending job with a future --begin is
        assumed to hold its nodes from now on for its whole time limit.
        """
        args = ["--test-only", *self._resources(cores, memory_mb, gpus, time_limit, begin, partition)]
        result = await self._run("sbatch", [*args, "--job-name=eb-test-only", "--output=/dev/null", "--wrap=true"])
        text = f"{result.err}\n{result.out}"
        match = TEST_ONLY.search(text)
        if result.rc != 0 or match is None:
            if result.rc == 0:
                raise SlurmError(f"unexpected sbatch --test-only output: {clean(text) or '(nothing)'}")
            raise self._error("sbatch", result)
        start = parse_time(match["start"])
        if start is None:
            raise SlurmError(f"unexpected start time in sbatch --test-only output: {match['start']!r}")
        return TestResult(job_id=int(match["id"]), start=start, nodes=match["nodes"], partition=match["part"])

    async def submit(
        self,
        *,
        name: str,
        script: str,
        cores: int,
        memory_mb: int,
        gpus: int = 0,
        time_limit: timedelta,
        begin: datetime | None = None,
        partition: str | None = None,
        output: str | None = None,
        workdir: str | None = None,
    ) -> str:
        """Submit a batch job (``sbatch --parsable``); its job id.

        ``script`` is the batch script (``#!/bin/sh`` is prepended when it has no ``#!`` line);
        ``output`` the file for stdout and stderr (default /dev/null); ``workdir`` the job's
        working directory (default: this process's). A SlurmUnavailable (e.g. a timeout) does
        not prove that no job was made: look for it with ``find_by_name`` before submitting again.
        """
        if not name or any(c in name for c in "\n\r"):
            raise SlurmError(f"bad job name {name!r}")
        args = [
            "--parsable",
            f"--job-name={name}",
            *self._resources(cores, memory_mb, gpus, time_limit, begin, partition),
            f"--output={output or '/dev/null'}",
        ]
        if workdir:
            args.append(f"--chdir={workdir}")
        if not script.startswith("#!"):
            script = "#!/bin/sh\n" + script
        if not script.endswith("\n"):
            script += "\n"
        out = await self._call("sbatch", args, stdin=script)
        job_id = out.strip().splitlines()[-1].split(";")[0].strip() if out.strip() else ""
        if not job_id.isdigit():
            raise SlurmError(f"unexpected sbatch --parsable output: {out.strip()[:200]!r}")
        return job_id

    async def queue_state(self, job_id: str) -> str | None:
        """The job's state while it is in the queue (PENDING, RUNNING, COMPLETING, ...);
        None once it has left the queue (finished, or unknown to the controller)."""
        job = self._job_id(job_id)
        result = await self._run("squeue", ["-h", "-j", job, "-o", "%T"])
        if result.rc != 0:
            if UNKNOWN_JOB in result.err.lower():
                return None
            raise self._error("squeue", result)
        lines = [line.strip() for line in result.out.splitlines() if line.strip()]
        return lines[0] if lines else None

    async def accounting(self, job_id: str) -> Accounting | None:
        """State, exit code, start and end of a job -- running or finished; None when Slurm
        knows nothing of it. ``scontrol show job`` while the controller remembers the job
        (MinJobAge), then sacct (slurmdbd), or ``sacct -c`` (the jobcomp log) without slurmdbd."""
        job = self._job_id(job_id)
        known = await self._scontrol_job(job)
        if known is not None:
            return known
        return await self._sacct(job)

    async def _scontrol_job(self, job: str) -> Accounting | None:
        result = await self._run("scontrol", ["show", "job", "-o", job])
        if result.rc != 0:
            if UNKNOWN_JOB in result.err.lower():
                return None
            raise self._error("scontrol", result)
        for line in result.out.splitlines():
            fields = key_values(line)
            if fields.get("JobId") != job.split("_")[0].split("+")[0]:
                continue
            state = (fields.get("JobState") or "").split()[0] if fields.get("JobState") else ""
            if not state:
                continue
            pending = state == "PENDING"
            end = None if pending or state not in TERMINAL_STATES else parse_time(fields.get("EndTime"))
            return Accounting(
                job_id=job,
                state=state,
                exit_code=fields.get("ExitCode"),
                start=None if pending else parse_time(fields.get("StartTime")),
                end=end,
                reason=fields.get("Reason") if fields.get("Reason") not in (None, "None") else None,
            )
        return None

    async def _sacct(self, job: str) -> Accounting | None:
        base = ["-P", "-n", "-X", "-o", "JobID,State,ExitCode,Start,End", "-j", job]
        if self._sacct_completion is not True:
            result = await self._run("sacct", base)
            if result.rc == 0:
                self._sacct_completion = False
                return sacct_row(job, result.out)
            if "accounting storage is disabled" not in result.err.lower():
                raise self._error("sacct", result)
            self._sacct_completion = True
        result = await self._run("sacct", ["-c", *base])
        if result.rc != 0:
            if "no such file" in result.err.lower():  # no job has finished yet
                return None
            raise self._error("sacct", result)
        return sacct_row(job, result.out)

    async def work_dir(self, job_id: str) -> str | None:
        """The job's working folder: ``scontrol show job``'s WorkDir while the controller remembers the job,
        then sacct's; None when neither knows it."""
        job = self._job_id(job_id)
        result = await self._run("scontrol", ["show", "job", "-o", job])
        if result.rc == 0:
            for line in result.out.splitlines():
                fields = key_values(line)
                if fields.get("JobId") == job.split("_")[0].split("+")[0] and fields.get("WorkDir"):
                    return fields["WorkDir"]
        elif UNKNOWN_JOB not in result.err.lower():
            raise self._error("scontrol", result)
        result = await self._run("sacct", ["-P", "-n", "-X", "-o", "JobID,WorkDir", "-j", job])
        for line in result.out.splitlines() if result.rc == 0 else ():
            found, _, folder = line.strip().partition("|")
            if found == job and folder:
                return folder
        return None

    async def cancel(self, job_id: str) -> None:
        """Cancel a job (``scancel``); nothing happens for a finished or unknown job."""
        job = self._job_id(job_id)
        result = await self._run("scancel", [job])
        if result.rc != 0:
            low = result.err.lower()
            if UNKNOWN_JOB in low or "already completing or completed" in low:
                return
            raise self._error("scancel", result)

    async def find_by_name(self, name: str) -> list[str]:
        """Ids of the jobs with exactly this name that the controller still knows, in any
        state (finished ones included, for MinJobAge seconds), oldest first."""
        if not name or any(c in name for c in ",\n\r"):
            raise SlurmError(f"bad job name {name!r}")
        out = await self._call("squeue", ["-h", "-t", "all", "-n", name, "-o", "%i|%j"])
        ids = []
        for line in out.splitlines():
            job, _, job_name = line.partition("|")
            if job.strip() and job_name == name:
                ids.append(job.strip())
        return sorted(ids, key=lambda job: [int(part) for part in re.split(r"[_+]", job) if part.isdigit()])

    async def ping(self) -> bool:
        """True when slurmctld answers (``scontrol ping``); never raises."""
        try:
            result = await self._run("scontrol", ["ping"])
        except SlurmError:
            return False
        return result.rc == 0 and " is UP" in result.out


