#!/usr/bin/env bash
# Build the deployment's images on this machine, from nothing, with no image registry:
#   base      Debian bookworm (minbase + python3), made with debootstrap and `docker import`
#   postgres  PostgreSQL 15 from Debian on that base (scripts/images/postgres/)
#   broker    the Dockerfile's `broker` target with BASE=<base>, installed from a local wheelhouse
#   slurm     the Dockerfile's `slurm` target (adds the Slurm client tools)
#   notebook  runs notebooks headless (nbconvert, nbclient, ipykernel; scripts/images/notebook/), for a
#             Docker site's jupyter-notebook sessions (EB_NOTEBOOK_IMAGE)
#
# usage: build.sh [IMAGE...]   IMAGE is broker, slurm, postgres or notebook (default: all of them); the
#                              base is always built first
# The last lines of stdout say which images were built, as compose.yaml's variables:
#   EB_BASE_IMAGE=… EB_IMAGE=… EB_SLURM_IMAGE=… EB_POSTGRES_IMAGE=…
#
# Cached between runs on the same machine: debootstrap runs only when the base tag is missing, the
# wheelhouse is kept per hash of pyproject.toml and setup.py, and docker's layer cache does the rest (a
# rebuild with nothing changed takes seconds). One build at a time: a second caller waits on the lock
# and then finds everything cached.
#
# environment (defaults in brackets):
#   EB_BASE_IMAGE      [srcnet/debian-python:bookworm]   EB_POSTGRES_IMAGE [srcnet/postgres:15]
#   EB_IMAGE           [srcnet/execution-broker:0.2]     EB_SLURM_IMAGE    [srcnet/execution-broker-slurm:0.2]
#   EB_NOTEBOOK_IMAGE  [srcnet/notebook:bookworm]
#   EB_IMAGES_CACHE    [/var/cache/srcnet-eb-images]     the wheelhouses and the lock
#   EB_DEBIAN_MIRROR   [the one apt uses here]           EB_DEBIAN_SUITE   [bookworm]
#   DOCKER             [/usr/bin/docker if present, else docker]
#   PYTHON             [.venv/bin/python, else python3] makes the wheelhouse (pip wheel, with this
#                      machine's package index settings); must be the base's Python version (3.11)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BASE_IMAGE=${EB_BASE_IMAGE:-srcnet/debian-python:bookworm}
POSTGRES_IMAGE=${EB_POSTGRES_IMAGE:-srcnet/postgres:15}
BROKER_IMAGE=${EB_IMAGE:-srcnet/execution-broker:0.2}
SLURM_IMAGE=${EB_SLURM_IMAGE:-srcnet/execution-broker-slurm:0.2}
NOTEBOOK_IMAGE=${EB_NOTEBOOK_IMAGE:-srcnet/notebook:bookworm}
NOTEBOOK_REQUIREMENTS=$REPO/scripts/notebook/requirements.txt
CACHE=${EB_IMAGES_CACHE:-/var/cache/srcnet-eb-images}
SUITE=${EB_DEBIAN_SUITE:-bookworm}
PYTHON=${PYTHON:-python3}
[[ -x $REPO/.venv/bin/python && $PYTHON == python3 ]] && PYTHON=$REPO/.venv/bin/python  # make's venv: it has pip
if [[ -z ${DOCKER:-} ]]; then
    DOCKER=docker
    [[ -x /usr/bin/docker ]] && DOCKER=/usr/bin/docker  # Debian's client, the engine's own version
fi

die() { echo "images: $*" >&2; exit 1; }
log() { echo "images: $(date -u +%T) $*" >&2; }

"$DOCKER" info >/dev/null 2>&1 || die "no Docker engine answers ($DOCKER info failed)"
mkdir -p "$CACHE"
exec 9>"$CACHE/build.lock"
flock -w 1800 9 || die "timed out waiting for $CACHE/build.lock"

exists() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# The Debian mirror apt uses on this machine (deb822 sources or a classic sources.list line).
debian_mirror() {
    [[ -n ${EB_DEBIAN_MIRROR:-} ]] && { echo "$EB_DEBIAN_MIRROR"; return; }
    local url
    url=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v s="$SUITE" '
        /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==s) {print u; exit}}')
    [[ -n $url ]] || url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk -v s="$SUITE" '$1=="deb" && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i==s) {print $(i-1); exit}}')
    [[ -n $url ]] || die "cannot find the Debian mirror in /etc/apt/sources.list*; set EB_DEBIAN_MIRROR"
    echo "$url"
}

build_base() {
    if exists "$BASE_IMAGE"; then
        log "$BASE_IMAGE: present"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    local mirror root
    mirror=$(debian_mirror)
    rm -rf "$CACHE"/rootfs.*  # a rootfs left by an interrupted build
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    log "$BASE_IMAGE: debootstrap $SUITE from $mirror (about a minute)"
    if ! debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$root" "$mirror" \
        >"$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        die "debootstrap failed (see $CACHE/debootstrap.log)"
    fi
    # what an image needs no copy of: package lists and archives (apt-get update fetches them again),
    # documentation, translations
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*
    tar -C "$root" -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
    log "$BASE_IMAGE: imported"
}

# Wheels of every dependency (and setuptools, which builds the project), made on this machine with its
# package index configuration; the image installs from them with --no-index.
wheelhouse() {
    local key dir
    key=$(cat "$REPO/pyproject.toml" "$REPO/setup.py" | sha256sum | cut -c1-16)
    dir=$CACHE/wheels/$key
    if [[ ! -f $dir/.complete ]]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
            || die "$PYTHON is not Python 3.11 (the base image's): its wheels would not fit"
        log "wheelhouse $key: pip wheel (first time for this pyproject.toml)"
        rm -rf "$dir" && mkdir -p "$dir"
        if ! "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$dir" \
            "$REPO[rucio]" "setuptools>=77" >"$CACHE/wheels.log" 2>&1; then
            tail -n 20 "$CACHE/wheels.log" >&2
            die "pip wheel failed (see $CACHE/wheels.log)"
        fi
        rm -f "$dir"/srcnet_execution_broker-*.whl  # the project itself is built in the image
        touch "$dir/.complete"
    fi
    # into the build context (var/ is git-ignored; .dockerignore lets only var/wheelhouse through)
    rm -rf "$REPO/var/wheelhouse" && mkdir -p "$REPO/var/wheelhouse"
    cp -l "$dir"/*.whl "$REPO/var/wheelhouse/" 2>/dev/null || cp "$dir"/*.whl "$REPO/var/wheelhouse/"
    # stale wheelhouses of earlier pyproject.tomls: keep the newest three
    ls -1dt "$CACHE"/wheels/*/ 2>/dev/null | tail -n +4 | xargs -r rm -rf
}

# The notebook image's wheels (scripts/notebook/requirements.txt) for the base's own Python (Debian's
# 3.11.2: a newer release's requirement, e.g. soupsieve's >=3.11.5, must not slip in), binary wheels only,
# kept per hash of that file and that version; the folder is also the image's build context.
notebook_wheels() {
    local version key dir
    version=$("$DOCKER" run --rm --network none "$BASE_IMAGE" python3 -c 'import platform; print(platform.python_version())') \
        || die "cannot run python3 in $BASE_IMAGE"
    key=$( (cat "$NOTEBOOK_REQUIREMENTS"; echo "$version") | sha256sum | cut -c1-16)
    dir=$CACHE/notebook-wheels/$key
    if [[ ! -f $dir/.complete ]]; then
        log "notebook wheelhouse $key: pip download for Python $version"
        rm -rf "$dir" && mkdir -p "$dir"
        if ! "$PYTHON" -m pip download --quiet --disable-pip-version-check --dest "$dir" --python-version "$version" \
            --only-binary=:all: -r "$NOTEBOOK_REQUIREMENTS" >"$CACHE/notebook-wheels.log" 2>&1; then
            tail -n 20 "$CACHE/notebook-wheels.log" >&2
            die "pip download failed (see $CACHE/notebook-wheels.log)"
        fi
        touch "$dir/.complete"
    fi
    ls -1dt "$CACHE"/notebook-wheels/*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf
    echo "$dir"
}

build() {  # TAG BUILD-ARGS...
    local tag=$1
    shift
    log "$tag: docker build"
    if ! "$DOCKER" build --quiet --build-arg "BASE=$BASE_IMAGE" --tag "$tag" "$@" >"$CACHE/build-$(tr '/:' '__' <<<"$tag").log" 2>&1; then
        tail -n 30 "$CACHE/build-$(tr '/:' '__' <<<"$tag").log" >&2
        die "docker build of $tag failed"
    fi
}

WANT=("$@")
[[ ${#WANT[@]} -gt 0 ]] || WANT=(broker slurm postgres notebook)
wants() { [[ " ${WANT[*]} " == *" $1 "* ]]; }
for name in "${WANT[@]}"; do
    [[ $name =~ ^(broker|slurm|postgres|notebook)$ ]] || die "unknown image $name (broker, slurm, postgres, notebook)"
done

build_base
BUILT=("EB_BASE_IMAGE=$BASE_IMAGE")
if wants broker || wants slurm; then
    wheelhouse
fi
if wants broker; then
    build "$BROKER_IMAGE" --target broker "$REPO"
    BUILT+=("EB_IMAGE=$BROKER_IMAGE")
fi
if wants slurm; then
    build "$SLURM_IMAGE" --target slurm "$REPO"
    BUILT+=("EB_SLURM_IMAGE=$SLURM_IMAGE")
fi
if wants postgres; then
    build "$POSTGRES_IMAGE" "$HERE/postgres"
    BUILT+=("EB_POSTGRES_IMAGE=$POSTGRES_IMAGE")
fi
if wants notebook; then
    build "$NOTEBOOK_IMAGE" --network none --file "$HERE/notebook/Dockerfile" "$(notebook_wheels)"  # needs no network
    BUILT+=("EB_NOTEBOOK_IMAGE=$NOTEBOOK_IMAGE")
fi
log "done"
for line in "${BUILT[@]}"; do
    log "${line#*=}: $(( $("$DOCKER" image inspect --format '{{.Size}}' "${line#*=}") / 1000000 )) MB"
done
printf '%s\n' "${BUILT[@]}"
