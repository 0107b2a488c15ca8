#!/usr/bin/env bash
# JupyterHub for the jupyterhub platform's tests (and a local site): the hub, a single-user server and
# configurable-http-proxy, in a venv and an npm prefix of their own (never the project's venv: the
# plug-in itself only talks HTTP to a hub). Idempotent: reused while it holds the wanted versions.
#
# usage: scripts/jupyterhub/install.sh        prints the venv's path (its bin/ holds jupyterhub,
#                                              jupyterhub-singleuser and configurable-http-proxy)
# environment:
#   EB_JUPYTERHUB_VENV     venv (default <repo>/var/jupyterhub/venv; var/ is git-ignored)
#   EB_JUPYTERHUB_VERSION  jupyterhub release (default 5.5.4)
#   EB_JUPYTER_SERVER_VERSION  jupyter-server release (default 2.17.0)
#   EB_JUPYTERLAB_VERSION  jupyterlab release (default 4.4.10): notebooks open at lab/tree/<path>
#   EB_CHP_VERSION         configurable-http-proxy release on npm (default 4.6.3)
#   EB_JUPYTERHUB_PYTHON   interpreter that creates the venv (default python3)
# needs: python3-venv, nodejs and npm (Debian: apt-get install -y python3-venv nodejs npm)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${EB_JUPYTERHUB_VENV:-$REPO/var/jupyterhub/venv}
HUB=${EB_JUPYTERHUB_VERSION:-5.5.4}
SERVER=${EB_JUPYTER_SERVER_VERSION:-2.17.0}
LAB=${EB_JUPYTERLAB_VERSION:-4.4.10}
CHP=${EB_CHP_VERSION:-4.6.3}
PYTHON=${EB_JUPYTERHUB_PYTHON:-python3}
MARKER="$VENV/.eb-jupyterhub"
WANT="jupyterhub==$HUB jupyter-server==$SERVER jupyterlab==$LAB configurable-http-proxy@$CHP"

die() { echo "jupyterhub-install: $*" >&2; exit 1; }

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"  # one installer at a time (parallel test sessions share the venv)
flock -w 900 9 || die "timed out waiting for $VENV.lock"
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" && -x "$VENV/bin/jupyterhub" \
      && -x "$VENV/bin/configurable-http-proxy" ]]; then
    echo "$VENV"
    exit 0
fi
command -v npm >/dev/null || die "npm is missing (Debian: apt-get install -y nodejs npm)"
echo "jupyterhub-install: installing $WANT into $VENV (first time: a minute or two)" >&2
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV" >&2 || die "cannot create a venv with $PYTHON (Debian: python3-venv)"
if ! timeout 900 "$VENV/bin/python" -m pip install --disable-pip-version-check \
        "jupyterhub==$HUB" "jupyter-server==$SERVER" "jupyterlab==$LAB" >"$VENV.install.log" 2>&1; then
    tail -n 20 "$VENV.install.log" >&2
    rm -rf "$VENV"
    die "pip install of jupyterhub failed, see $VENV.install.log"
fi
# The proxy in a prefix inside the venv, linked into its bin/ (the hub finds it on PATH there).
if ! timeout 600 npm install --no-audit --no-fund --prefix "$VENV/node" "configurable-http-proxy@$CHP" \
        >>"$VENV.install.log" 2>&1; then
    tail -n 20 "$VENV.install.log" >&2
    rm -rf "$VENV"
    die "npm install of configurable-http-proxy failed, see $VENV.install.log"
fi
ln -sf "$VENV/node/node_modules/.bin/configurable-http-proxy" "$VENV/bin/configurable-http-proxy"
echo "$WANT" >"$MARKER"
echo "$VENV"
