#!/usr/bin/env bash
# A throw-away real Rucio server (SQLite, userpass root) on 127.0.0.1, for integration tests.
#
# The server package `rucio` and the project's `rucio-clients` ship overlapping files, so the
# server lives in its own virtualenv (never in the project venv). It is created on demand with
# pip from PyPI and reused while it holds the pinned versions.
#
# usage:
#   scripts/rucio/server.sh provision               create or reuse the server venv, print its path
#   scripts/rucio/server.sh start BASE_DIR [PORT]   fresh config + DB in BASE_DIR, gunicorn on
#                                                   127.0.0.1:PORT (default 8765), wait for /ping;
#                                                   prints "url pid"
#   scripts/rucio/server.sh stop BASE_DIR           kill the gunicorn started for BASE_DIR (by pid)
#   scripts/rucio/server.sh conveyor BASE_DIR [ROUNDS [STEPS]]
#                                                   run the conveyor daemons once per round, in order
#                                                   (STEPS default preparer,submitter,poller,finisher);
#                                                   the mock transfertool finishes transfers at once
#   scripts/rucio/server.sh exec BASE_DIR CMD...    run CMD with the server venv and RUCIO_CONFIG
#
# environment:
#   EB_RUCIO_VENV      server venv (default: <repo>/var/rucio-venv; var/ is git-ignored)
#   EB_RUCIO_VERSION   rucio release (default 41.5.1; keep the same major as rucio-clients)
#   EB_RUCIO_GUNICORN  gunicorn release (default 27.0.1)
#   EB_RUCIO_PYTHON    interpreter that creates the venv (default python3)
#   EB_RUCIO_DB_URL    SQLAlchemy URL of the database (default sqlite:///BASE_DIR/rucio.db)
#   EB_RUCIO_START_TIMEOUT  seconds to wait for /ping (default 60)
#   EB_RUCIO_OWNER_PID (start) gunicorn is killed when this process ends, however it ends
#   EB_RUCIO_PREPARER  1 (default): new transfers wait in PREPARING for the conveyor-preparer;
#                      0: they are QUEUED at once, without a source RSE
# Credentials of the root account: userpass ddmlab / secret.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VENV=${EB_RUCIO_VENV:-$REPO/var/rucio-venv}
RUCIO_VERSION=${EB_RUCIO_VERSION:-41.5.1}
GUNICORN_VERSION=${EB_RUCIO_GUNICORN:-27.0.1}
PYTHON=${EB_RUCIO_PYTHON:-python3}
MARKER="$VENV/.eb-rucio-server"
WANT="rucio==$RUCIO_VERSION gunicorn==$GUNICORN_VERSION"

die() { echo "rucio-server: $*" >&2; exit 1; }

provision() {
    mkdir -p "$(dirname "$VENV")"
    # one provisioner at a time (parallel test sessions share the venv)
    exec 9>"$VENV.lock"
    flock -w 900 9 || die "timed out waiting for $VENV.lock"
    if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" && -x "$VENV/bin/gunicorn" ]] \
        && "$VENV/bin/python" -c "import rucio.core, gunicorn" 2>/dev/null; then
        exec 9>&-
        echo "$VENV"
        return
    fi
    echo "rucio-server: installing $WANT into $VENV (first time: a minute or two)" >&2
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" >&2 || die "cannot create a venv with $PYTHON"
    if ! timeout 900 "$VENV/bin/python" -m pip install --disable-pip-version-check \
        "rucio==$RUCIO_VERSION" "gunicorn==$GUNICORN_VERSION" >"$VENV.install.log" 2>&1; then
        tail -n 20 "$VENV.install.log" >&2
        rm -rf "$VENV"
        die "pip install of $WANT failed (no access to PyPI?), see $VENV.install.log"
    fi
    echo "$WANT" >"$MARKER"
    exec 9>&-
    echo "$VENV"
}

write_config() {  # BASE PORT
    local base=$1 port=$2 pkg db
    pkg=$("$VENV/bin/python" -c 'import os, rucio; print(os.path.dirname(rucio.__file__))')
    db=${EB_RUCIO_DB_URL:-sqlite:///$base/rucio.db}
    PREPARER=True; [[ ${EB_RUCIO_PREPARER:-1} == 1 ]] || PREPARER=False
    mkdir -p "$base/etc" "$base/log"
    # Server and daemons read this file (RUCIO_CONFIG). It is never given to rucio-clients.
    cat >"$base/etc/rucio.cfg" <<EOF
[common]
logdir = $base/log
loglevel = WARNING

[database]
default = $db
pool_size = 5
echo = 0

[bootstrap]
userpass_identity = ddmlab
userpass_pwd = secret
userpass_email = ddmlab@example.org

[alembic]
cfg = $base/etc/alembic.ini

[policy]
permission = generic
schema = generic
lfn2pfn_algorithm_default = hash

[conveyor]
# the mock transfertool "completes" every transfer as soon as the poller asks
scheme = mock
transfertool = mock
# new transfers wait in PREPARING until the preparer picks their source and queues them
use_preparer = $PREPARER

[transfers]
stats_enabled = True

EOF
    # alembic's env.py calls logging.config.fileConfig(): the logging sections are required
    cat >"$base/etc/alembic.ini" <<EOF
[alembic]
script_location = $pkg/db/sqla/migrate_repo/
sqlalchemy.url = $db

[loggers]
keys = root
[handlers]
keys = console
[formatters]
keys = generic
[logger_root]
level = WARN
handlers = console
[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic
[formatter_generic]
format = %(levelname)s [%(name)s] %(message)s
EOF
    echo "http://127.0.0.1:$port" >"$base/url"
}

stop() {  # BASE
    local base=$1 pid i
    [[ -f "$base/gunicorn.pid" ]] || return 0
    pid=$(cat "$base/gunicorn.pid")
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -QUIT "$pid" 2>/dev/null || true  # gunicorn: QUIT = quick shutdown, TERM = graceful
        for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$base/gunicorn.pid"
}

start() {  # BASE [PORT]
    local base port url deadline
    base=$(mkdir -p "$1" && cd "$1" && pwd)
    port=${2:-8765}
    provision >/dev/null
    stop "$base"
    "$VENV/bin/python" -c 'import socket, sys; socket.create_server(("127.0.0.1", int(sys.argv[1]))).close()' "$port" \
        2>/dev/null || die "port $port on 127.0.0.1 is in use"
    rm -f "$base/rucio.db" "$base/rucio.db-journal" "$base/rucio.db-wal" "$base/rucio.db-shm"
    write_config "$base" "$port"
    export RUCIO_CONFIG="$base/etc/rucio.cfg"
    # schema + base VO + root account (userpass ddmlab/secret)
    timeout 300 "$VENV/bin/python" - <<'EOF' >"$base/log/bootstrap.log" 2>&1 || { cat "$base/log/bootstrap.log" >&2; die "database bootstrap failed"; }
from rucio.db.sqla.util import build_database, create_base_vo, create_root_account
build_database()
create_base_vo()
create_root_account()
EOF
    url="http://127.0.0.1:$port"
    "$VENV/bin/gunicorn" --bind "127.0.0.1:$port" --workers 1 --threads 4 --timeout 120 --graceful-timeout 3 \
        --no-control-socket --pid "$base/gunicorn.pid" --daemon --capture-output \
        --error-logfile "$base/log/gunicorn.log" \
        rucio.web.rest.flaskapi.v1.main:application
    deadline=${EB_RUCIO_START_TIMEOUT:-60}
    if ! "$VENV/bin/python" - "$url/ping" "$deadline" <<'EOF'; then
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy
while time.monotonic() < deadline:
    try:
        with direct.open(url, timeout=2) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.1)
sys.exit(1)
EOF
        tail -n 40 "$base/log/gunicorn.log" >&2 || true
        stop "$base"
        die "no answer from $url/ping within ${deadline}s"
    fi
    # the answer must come from our gunicorn, not from something else on that port
    [[ -s "$base/gunicorn.pid" ]] && kill -0 "$(cat "$base/gunicorn.pid")" 2>/dev/null \
        || die "gunicorn is not running (see $base/log/gunicorn.log)"
    if [[ -n "${EB_RUCIO_OWNER_PID:-}" ]]; then
        # a watchdog: when the owner (e.g. the pytest process) dies, even by SIGKILL, so does gunicorn
        setsid bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
            if ! kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; then
                kill -TERM "$2"; sleep 5; kill -KILL "$2" 2>/dev/null; fi' \
            watchdog "$EB_RUCIO_OWNER_PID" "$(cat "$base/gunicorn.pid")" </dev/null >/dev/null 2>&1 &
    fi
    echo "$url $(cat "$base/gunicorn.pid")"
}

conveyor() {  # BASE [ROUNDS [STEPS]]
    local base rounds steps
    base=$(cd "$1" && pwd)
    rounds=${2:-1}
    steps=${3:-preparer,submitter,poller,finisher}
    [[ -f "$VENV/bin/python" ]] || die "no server venv at $VENV"
    RUCIO_CONFIG="$base/etc/rucio.cfg" timeout 300 "$VENV/bin/python" - "$rounds" "$steps" <<'EOF'
# One process for all rounds: importing rucio costs more than a round. The inner daemon
# functions are called (not run(), as the console scripts do) to skip their 10 s
# partition_wait_time, which only matters when several daemon instances share work.
import logging, sys
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
from rucio.common.config import config_get_bool
from rucio.daemons.conveyor.finisher import finisher
from rucio.daemons.conveyor.poller import poller
from rucio.daemons.conveyor.preparer import preparer
from rucio.daemons.conveyor.submitter import submitter

rounds, steps = int(sys.argv[1]), sys.argv[2].split(",")
unknown = set(steps) - {"preparer", "submitter", "poller", "finisher"}
if unknown:
    sys.exit(f"unknown conveyor steps: {sorted(unknown)}")
if not config_get_bool("conveyor", "use_preparer", raise_exception=False, default=False):
    steps = [s for s in steps if s != "preparer"]
for _ in range(rounds):
    for step in steps:
        if step == "preparer":
            # PREPARING -> QUEUED: source RSE (nearest by distance) and transfertool chosen
            preparer(once=True, partition_wait_time=0)
        elif step == "submitter":
            # QUEUED -> SUBMITTED: the mock transfertool takes the job, returns a made-up id
            submitter(once=True, partition_wait_time=0, group_bulk=100)
        elif step == "poller":
            # SUBMITTED -> DONE: the mock transfertool reports every job done; older_than=0
            # polls transfers submitted a moment ago (default: only those older than 60 s)
            poller(once=True, partition_wait_time=0, older_than=0)
        elif step == "finisher":
            # DONE -> replica AVAILABLE at the destination, lock OK, rule OK once all locks are
            finisher(once=True, partition_wait_time=0)
EOF
}

cmd=${1:-}
shift || true
case "$cmd" in
    provision) provision ;;
    start) [[ $# -ge 1 ]] || die "usage: start BASE_DIR [PORT]"; start "$@" ;;
    stop) [[ $# -ge 1 ]] || die "usage: stop BASE_DIR"; stop "$(cd "$1" && pwd)" ;;
    conveyor) [[ $# -ge 1 ]] || die "usage: conveyor BASE_DIR [ROUNDS [STEPS]]"; conveyor "$@" ;;
    exec)
        [[ $# -ge 2 ]] || die "usage: exec BASE_DIR CMD..."
        base=$(cd "$1" && pwd); shift
        PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV" RUCIO_CONFIG="$base/etc/rucio.cfg" exec "$@" ;;
    *) sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
