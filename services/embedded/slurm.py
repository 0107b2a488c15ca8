"""Is a Slurm cluster reachable from here? The embedded default then adds a Slurm site."""

from __future__ import annotations

import os
import re
import shutil
import subprocess


def detect() -> dict[str, str] | None:
    """EB_* settings for a local Slurm site agent, or None when Slurm does not answer."""
    if not shutil.which("sinfo"):
        return None
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%c %m %G %P"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0 or not done.stdout.strip():
        return None
    cpus, memory_mb, gres, partition = (done.stdout.split() + ["", "", "", ""])[:4]
    gpus = sum(int(n) for n in re.findall(r"gpu(?::[^:,(]+)?:(\d+)", gres))
    env = {"EB_SITE": "slurm-local", "EB_TOTAL_CORES": cpus.rstrip("+"),
           "EB_TOTAL_MEMORY_GB": str(max(1, int(memory_mb.rstrip("+")) // 1024)), "EB_TOTAL_GPUS": str(gpus),
           "EB_PARTITION": partition.rstrip("*")}
    if os.environ.get("SLURM_CONF"):
        env["EB_SLURM_CONF"] = os.environ["SLURM_CONF"]
    return env
