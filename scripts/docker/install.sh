#!/usr/bin/env bash
# What the Docker platform's tests need (tests/docker_engine.py): Debian's docker.io (dockerd, containerd,
# runc; the tests start a dockerd of their own, not the system one) and busybox-static (the one static
# binary their tiny test image is made of: no registry is needed). Needs root. Running it again changes
# nothing.
set -euo pipefail
die() { echo "docker-install: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (apt-get)"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
[[ -x /bin/busybox ]] && /bin/busybox --list 2>/dev/null | grep -qx sh && ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' \
    || missing+=(busybox-static)
if ((${#missing[@]})); then
    echo "docker-install: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # other installers may hold the dpkg lock: wait for it rather than fail
    timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null \
        && timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null \
        || die "apt-get install ${missing[*]} failed"
fi
