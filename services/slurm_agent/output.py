"""What the Slurm CLI tools print, as types, and how it is read (see slurmctl.py for the formats)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta



class SlurmError(Exception):
    """Slurm refused or could not do this request; ``reason`` is Slurm's own message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SlurmUnavailable(SlurmError):
    """Slurm cannot be used right now: controller down or unreachable, a tool timed out,
    authentication (munge) failed, or the tools or their configuration are missing."""


@dataclass(frozen=True)
class TestResult:
    """What ``sbatch --test-only`` predicts: when and where a job like this would start."""

    __test__ = False  # not a pytest test class

    job_id: int | None
    start: datetime
    nodes: str | None
    partition: str | None


@dataclass(frozen=True)
class Accounting:
    job_id: str
    state: str  # first word of Slurm's state: PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, ...
    exit_code: str | None  # "exit:signal", e.g. "0:0", "3:0", "0:15"
    start: datetime | None  # None while pending or unknown
    end: datetime | None  # None until the job has ended
    reason: str | None = None  # scontrol's Reason (BeginTime, NonZeroExitCode, ...), when known


#: job states after which a job never runs again
TERMINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "TIMEOUT",
    }
)

# stderr fragments (lower case) that mean "cannot talk to Slurm", not "Slurm said no"
UNAVAILABLE_MESSAGES = (
    "unable to contact slurm controller",
    "socket timed out",
    "zero bytes were transmitted",
    "connection refused",
    "communication connection failure",
    "could not establish a configuration source",
    "unable to establish controller",
    "slurm temporarily unable",
    "slurmctld is not responding",
    "munge",
    "invalid authentication credential",
    "authentication error",
    "unable to resolve",
)
UNKNOWN_JOB = "invalid job id specified"
TEST_ONLY = re.compile(
    r"Job\s+(?P<id>\d+)\s+to start at\s+(?P<start>\S+)"
    r"(?:\s+using\s+\d+\s+processors)?(?:\s+on nodes\s+(?P<nodes>\S+))?(?:\s+in partition\s+(?P<part>\S+))?"
)
PREFIX = re.compile(
    r"^(?:\S+:\s+(?:error|fatal):\s+|slurm_load_\w+(?: error)?:\s+|allocation failure:\s+)"
    r"|^Batch job submission failed:\s+"
)
JOB_ID = re.compile(r"^\d+(?:_\d+)?(?:\+\d+)?$")
ENV_DROP = ("SBATCH_", "SQUEUE_", "SACCT_", "SCANCEL_", "SCONTROL_", "SINFO_", "SALLOC_", "SRUN_")


def clean(text: str) -> str:
    """Slurm's message(s) from a tool's stderr, without tool/function prefixes, one line."""
    seen: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        while line:
            stripped = PREFIX.sub("", line, count=1)
            if stripped == line:
                break
            line = stripped.strip()
        if line and line not in seen:
            seen.append(line)
    message = "; ".join(seen)
    return message[:500] if message else ""


def is_unavailable(message: str) -> bool:
    low = message.lower()
    return any(marker in low for marker in UNAVAILABLE_MESSAGES)


def parse_time(value: str | None) -> datetime | None:
    """Slurm's standard time (printed in UTC because the tools run with TZ=UTC)."""
    if not value or value in ("Unknown", "None", "N/A", "(null)"):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def slurm_time(moment: datetime) -> str:
    """A datetime for --begin, in UTC (naive means local time, as everywhere in Python)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def minutes(limit: timedelta) -> int:
    return max(1, math.ceil(limit.total_seconds() / 60))


@dataclass(frozen=True)
class Output:
    rc: int
    out: str
    err: str


def key_values(line: str) -> dict[str, str]:
    """``scontrol show -o`` output: space-separated Key=Value pairs (values without spaces
    except in a few free-text fields, whose tails are then dropped)."""
    fields: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep and key and key not in fields:
            fields[key] = value
    return fields


def sacct_row(job: str, out: str) -> Accounting | None:
    for line in reversed(out.splitlines()):  # the latest record of that id
        parts = line.strip().split("|")
        if len(parts) < 5 or parts[0] != job:
            continue
        state = parts[1].split()[0] if parts[1].strip() else ""
        if not state:
            continue
        return Accounting(
            job_id=job,
            state=state,
            exit_code=parts[2] or None,
            start=None if state == "PENDING" else parse_time(parts[3]),
            end=parse_time(parts[4]) if state in TERMINAL_STATES else None,
        )
    return None
