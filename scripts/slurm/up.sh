#!/usr/bin/env bash
# A throw-away single-node Slurm for integration tests: Debian packages, no systemd, no cgroups.
#
# usage: scripts/slurm/up.sh      install what is missing, configure, start, wait for the node;
#                                 when the cluster in SLURM_BASE is already up, does nothing.
#                                 The last line of stdout is the path of slurm.conf.
# Needs root (apt-get, daemons running as root). Clients need SLURM_CONF=$SLURM_BASE/etc/slurm.conf.
#
# What runs (all pids under $SLURM_BASE/run, stopped by scripts/slurm/down.sh):
#   munged     a private one (own key and socket under $SLURM_BASE/munge), as user munge
#   slurmctld  on 127.0.0.1:$EB_SLURMCTLD_PORT
#   slurmd     node "localhost" on 127.0.0.1:$EB_SLURMD_PORT, size from `slurmd -C`,
#              plus one fake GPU (gres gpu:fake:1)
# One partition ($EB_SLURM_PARTITION): cons_tres with CR_Core_Memory, so several small jobs
# share the node core by core (cores themselves are not oversubscribed); EnforcePartLimits=ALL
# makes impossible requests fail at submission (and in `sbatch --test-only`) instead of pending.
# There is no slurmdbd: sacct cannot report (accounting storage disabled); finished jobs stay
# visible to `scontrol show job` for MinJobAge seconds, and are logged to log/jobcomp.txt.
#
# environment:
#   SLURM_BASE            base directory (default /tmp/eb-slurm)
#   EB_SLURMCTLD_PORT     slurmctld port (default 16817; not 6817, to keep clear of other clusters)
#   EB_SLURMD_PORT        slurmd port (default 16818)
#   EB_SLURM_PARTITION    partition name (default debug)
#   EB_SLURM_CPUS         CPUs of the node (default: what `slurmd -C` finds)
#   EB_SLURM_MEMORY_MB    memory of the node in MB (default: what `slurmd -C` finds)
#   EB_SLURM_MAX_TIME     partition MaxTime (default 2-00:00:00)
#   EB_SLURM_MIN_JOB_AGE  seconds finished jobs stay known to slurmctld (default 86400)
#   EB_SLURM_START_TIMEOUT  seconds to wait for the node to be idle (default 60)
#   EB_SLURM_OWNER_PID    when set, a watchdog runs down.sh as soon as that process is gone
#                         (a test session killed without its teardown leaves no daemons behind)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=${SLURM_BASE:-/tmp/eb-slurm}
export SLURM_BASE=$B
CTLD_PORT=${EB_SLURMCTLD_PORT:-16817}
SLURMD_PORT=${EB_SLURMD_PORT:-16818}
PARTITION=${EB_SLURM_PARTITION:-debug}
MAX_TIME=${EB_SLURM_MAX_TIME:-2-00:00:00}
MIN_JOB_AGE=${EB_SLURM_MIN_JOB_AGE:-86400}
START_TIMEOUT=${EB_SLURM_START_TIMEOUT:-60}
PACKAGES="munge slurmctld slurmd slurm-client"
export SLURM_CONF=$B/etc/slurm.conf

die() { echo "slurm-up: $*" >&2; exit 1; }
log() { echo "slurm-up: $*" >&2; }
alive() { [[ -n ${1:-} && -r /proc/$1/stat && "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]]; }
pid_of() { [[ -s $B/run/$1.pid ]] && cat "$B/run/$1.pid" || true; }
node_state() { timeout 5 sinfo -h -p "$PARTITION" -o %T 2>/dev/null | head -1 || true; }

[[ $(id -u) == 0 ]] || die "must run as root (installs packages, starts munged/slurmctld/slurmd)"

mkdir -p "$B"
# one caller at a time per base dir (parallel test sessions)
exec 9>"$B/.lock"
flock -w 600 9 || die "timed out waiting for $B/.lock"

# --- already up? ------------------------------------------------------------------------------
if [[ -f $SLURM_CONF ]] && alive "$(pid_of munged)" && alive "$(pid_of slurmctld)" && alive "$(pid_of slurmd)"; then
    case $(node_state) in
        idle | mixed | allocated | completing)
            log "already up"
            echo "$SLURM_CONF"
            exit 0 ;;
    esac
fi
# leftovers of a half-started or crashed cluster: stop them (by pid) and start afresh
if compgen -G "$B/run/*.pid" >/dev/null; then
    log "stopping leftovers of an earlier start"
    bash "$HERE/down.sh" >&2 || true
fi

# --- packages ---------------------------------------------------------------------------------
missing=""
for cmd in munged slurmctld slurmd sbatch; do command -v $cmd >/dev/null || missing=yes; done
if [[ -n $missing ]]; then
    command -v apt-get >/dev/null || die "Slurm is not installed and there is no apt-get"
    log "installing $PACKAGES (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >"$B/apt.log" 2>&1 || { tail -5 "$B/apt.log" >&2; die "apt-get update failed"; }
    timeout 900 apt-get install -y -qq --no-install-recommends $PACKAGES >>"$B/apt.log" 2>&1 \
        || { tail -10 "$B/apt.log" >&2; die "apt-get install $PACKAGES failed, see $B/apt.log"; }
fi

# --- directories --------------------------------------------------------------------------------
# a fresh controller every start: job ids start at 1 again, so the old job log must go too
rm -rf "$B/state" "$B/spool"
[[ -f $B/log/jobcomp.txt ]] && mv -f "$B/log/jobcomp.txt" "$B/log/jobcomp.txt.old"
mkdir -p "$B"/{etc,state,spool,log,run}
chmod 0755 "$B"
install -d -o munge -g munge -m 0755 "$B/munge"

# --- munge: a private daemon and key, so nothing is shared with a system-wide munged --------------
if [[ ! -s $B/munge/munge.key ]]; then
    dd if=/dev/urandom of="$B/munge/munge.key" bs=1024 count=1 status=none
fi
chown munge:munge "$B/munge/munge.key"
chmod 0400 "$B/munge/munge.key"
MUNGE_SOCKET=$B/munge/munge.socket
rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
timeout 20 runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$B/munge/munge.key" \
    --pid-file="$B/munge/munged.pid" --log-file="$B/munge/munged.log" --seed-file="$B/munge/munged.seed" </dev/null >"$B/log/munged.out" 2>&1 9>&- \
    || { tail -5 "$B/log/munged.out" "$B/munge/munged.log" >&2 || true; die "munged did not start"; }
for _ in $(seq 100); do [[ -S $MUNGE_SOCKET && -s $B/munge/munged.pid ]] && break; sleep 0.05; done
[[ -S $MUNGE_SOCKET ]] || die "munged socket $MUNGE_SOCKET did not appear"
cp "$B/munge/munged.pid" "$B/run/munged.pid"
timeout 5 munge -S "$MUNGE_SOCKET" -n | timeout 5 unmunge -S "$MUNGE_SOCKET" >/dev/null \
    || die "munge credential round trip failed (see $B/munge/munged.log)"

# --- configuration ------------------------------------------------------------------------------
# `slurmd -C` prints e.g. "NodeName=vm CPUs=2 Boards=1 ... RealMemory=24105"
hw=$(timeout 20 slurmd -C 2>/dev/null | head -1) || die "slurmd -C failed"
CPUS=${EB_SLURM_CPUS:-$(tr ' ' '\n' <<<"$hw" | sed -n 's/^CPUs=//p')}
MEMORY=${EB_SLURM_MEMORY_MB:-$(tr ' ' '\n' <<<"$hw" | sed -n 's/^RealMemory=//p')}
[[ $CPUS =~ ^[0-9]+$ && $MEMORY =~ ^[0-9]+$ ]] || die "cannot read the node size from: $hw"

cat >"$SLURM_CONF" <<EOF
# Written by scripts/slurm/up.sh -- a single-node test cluster; edits are lost on the next start.
ClusterName=eb
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$B/state
SlurmdSpoolDir=$B/spool
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in the test machine: track job processes by parent pid, do not bind tasks
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# no slurmdbd: sacct cannot report; finished jobs stay in slurmctld for MinJobAge seconds
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$B/log/jobcomp.txt
MinJobAge=$MIN_JOB_AGE
MaxJobCount=100000
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
# reject what can never run (too many cores, GPUs, memory, time) at submission
EnforcePartLimits=ALL
ReturnToService=2
# quick cancels and quick failure of clients when the controller is away
KillWait=2
MessageTimeout=5
TCPTimeout=2
InactiveLimit=0
MailProg=/bin/true
MpiDefault=none
GresTypes=gpu
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY Gres=gpu:fake:1 State=UNKNOWN
# several jobs share the node, each on cores of its own (OverSubscribe=NO: no core runs two jobs)
PartitionName=$PARTITION Nodes=localhost Default=YES OverSubscribe=NO DefaultTime=01:00:00 MaxTime=$MAX_TIME State=UP
EOF
echo "NodeName=localhost Name=gpu Type=fake File=/dev/null" >"$B/etc/gres.conf"

# --- daemons (they fork and write their pid files) ------------------------------------------------
timeout 30 slurmctld -f "$SLURM_CONF" </dev/null >"$B/log/slurmctld.out" 2>&1 9>&- \
    || { tail -20 "$B/log/slurmctld.out" "$B/log/slurmctld.log" >&2; die "slurmctld did not start"; }
timeout 30 slurmd -f "$SLURM_CONF" -N localhost </dev/null >"$B/log/slurmd.out" 2>&1 9>&- \
    || { tail -20 "$B/log/slurmd.out" "$B/log/slurmd.log" >&2; die "slurmd did not start"; }

deadline=$((SECONDS + START_TIMEOUT))
state=""
while ((SECONDS < deadline)); do
    state=$(node_state)
    [[ $state == idle ]] && break
    sleep 0.2
done
if [[ $state != idle ]]; then
    tail -20 "$B/log/slurmctld.log" "$B/log/slurmd.log" >&2 || true
    die "node not idle after ${START_TIMEOUT}s (state: ${state:-no answer})"
fi
if [[ -n ${EB_SLURM_OWNER_PID:-} ]]; then
    # detached, holding neither the lock nor the caller's pipes
    OWNER=$EB_SLURM_OWNER_PID setsid bash -c '
        while [[ -e /proc/$OWNER ]]; do sleep 1; done
        rm -f "$SLURM_BASE/run/watchdog.pid"
        exec bash "$0"' "$HERE/down.sh" </dev/null >>"$B/log/watchdog.log" 2>&1 9>&- &
    echo $! >"$B/run/watchdog.pid"
fi
log "up: $CPUS CPUs, $MEMORY MB, gpu:fake:1, partition $PARTITION, controller 127.0.0.1:$CTLD_PORT"
echo "$SLURM_CONF"
