#!/usr/bin/env bash
# A Docker engine on this machine, for the images and the compose stage (CI: .ci/run). Installs Debian's
# docker.io, docker-compose and debootstrap when missing, starts dockerd when none answers and waits for it
# (its log: /var/log/srcnet-eb-dockerd.log). Needs root. Running it again changes nothing.
set -euo pipefail
DOCKER=/usr/bin/docker  # Debian's client, of the engine's own API version (a newer docker on PATH may not be)
LOG=/var/log/srcnet-eb-dockerd.log

die() { echo "engine: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (apt-get, dockerd)"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    echo "engine: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq >/dev/null && timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi

if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "engine: starting dockerd" >&2
    # detached: its own session, none of the caller's descriptors (CI's pipes stay closable)
    setsid dockerd </dev/null >>"$LOG" 2>&1 &
    for _ in $(seq 300); do
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 0.2
    done
    "$DOCKER" info >/dev/null 2>&1 || { tail -n 20 "$LOG" >&2; die "dockerd did not answer within 60 s"; }
fi
