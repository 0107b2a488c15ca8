#!/usr/bin/env bash
# Stop the test Slurm started by scripts/slurm/up.sh: cancel every job, then stop slurmd,
# slurmctld and the private munged -- by the pids in $SLURM_BASE/run, never by name.
# Safe to call when nothing runs. Keeps logs and config (rm -rf $SLURM_BASE to forget it all).
#
# environment: SLURM_BASE (default /tmp/eb-slurm)
set -uo pipefail

B=${SLURM_BASE:-/tmp/eb-slurm}
export SLURM_CONF=$B/etc/slurm.conf

alive() { [[ -n ${1:-} && -r /proc/$1/stat && "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
pid_of() { [[ -s $B/run/$1.pid ]] && cat "$B/run/$1.pid" || true; }

stop() {  # NAME: TERM, then KILL after 5 s
    local pid
    pid=$(pid_of "$1")
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do alive "$pid" || break; sleep 0.05; done
        if alive "$pid"; then
            echo "slurm-down: $1 ($pid) ignored SIGTERM, SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
            for _ in $(seq 20); do alive "$pid" || break; sleep 0.05; done
        fi
    fi
    rm -f "$B/run/$1.pid"
}

# 0. the watchdog of EB_SLURM_OWNER_PID (when down.sh is not run by it)
stop watchdog

# 1. cancel all jobs while the daemons still run, so no slurmstepd or job process lingers
if [[ -f $SLURM_CONF ]] && alive "$(pid_of slurmctld)" && alive "$(pid_of slurmd)"; then
    timeout 10 scancel --full --quiet --user=root 2>/dev/null
    timeout 10 scancel --full --quiet --state=PENDING 2>/dev/null
    timeout 10 scancel --full --quiet 2>/dev/null   # every user's jobs (root may cancel them)
    for _ in $(seq 100); do
        [[ -z $(timeout 3 squeue -h -t all -o '%T' 2>/dev/null | grep -vE '^(COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|PREEMPTED|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)$') ]] && break
        sleep 0.1
    done
fi

# 2. daemons, the node first
stop slurmd
stop slurmctld
stop munged
rm -f "$B/munge/munge.socket" "$B/munge/munge.socket.lock"
exit 0
