#!/usr/bin/env bash
# A Python that runs notebooks headless (jupyter nbconvert --to notebook --execute): a venv holding
# scripts/notebook/requirements.txt (nbconvert, nbclient, ipykernel), for a Slurm site's jupyter-notebook
# jobs (its bin/jupyter in EB_NOTEBOOK_COMMAND) and the notebook tests. Idempotent: reused while it holds
# the wanted versions; one installer at a time.
#
# usage: scripts/notebook/install.sh     prints the venv's path
# environment:
#   EB_NOTEBOOK_VENV    venv (default <repo>/var/notebook/venv; var/ is git-ignored)
#   EB_NOTEBOOK_PYTHON  interpreter that creates the venv (default python3)
# needs: python3-venv (Debian: apt-get install -y python3-venv)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${EB_NOTEBOOK_VENV:-$REPO/var/notebook/venv}
PYTHON=${EB_NOTEBOOK_PYTHON:-python3}
REQUIREMENTS=$HERE/requirements.txt
MARKER="$VENV/.eb-notebook"
WANT=$(grep -v '^#' "$REQUIREMENTS" | xargs)

die() { echo "notebook-install: $*" >&2; exit 1; }

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"  # parallel test sessions share the venv
flock -w 900 9 || die "timed out waiting for $VENV.lock"
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" && -x "$VENV/bin/jupyter-nbconvert" ]]; then
    echo "$VENV"
    exit 0
fi
echo "notebook-install: installing $WANT into $VENV" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" >&2 || die "cannot create a venv with $PYTHON (Debian: python3-venv)"
if ! timeout 900 "$VENV/bin/python" -m pip install --disable-pip-version-check -r "$REQUIREMENTS" \
        >"$VENV.install.log" 2>&1; then
    tail -n 20 "$VENV.install.log" >&2
    rm -rf "$VENV"
    die "pip install failed, see $VENV.install.log"
fi
echo "$WANT" >"$MARKER"
echo "$VENV"
