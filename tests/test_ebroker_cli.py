"""The embedded default as a user runs it: `ebroker up`, a request end to end with the `ebroker` client
(its exit codes, one-line errors, EB_URL, --json), every child's log written, Ctrl-C stops every child;
a busy port refused at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import json
import socket

import httpx

from srcnet_eb.services.embedded.ports import free_port

from .embedded import processes_mentioning

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astroml.yaml"


def ebroker(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "srcnet_eb.services.ebroker", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_up_serves_a_request_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in ("EB_NATS_URL", "EB_DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "srcnet_eb.services.ebroker", "up", "--port", str(port), "--state", str(state),
                             "--no-docker", "--no-jupyterhub"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        banner = "".join(lines)
        assert "(4 live agents" in banner and f"http://127.0.0.1:{port}" in banner and "(embedded, JetStream in" in banner, banner
        assert f"dashboard http://127.0.0.1:{port}/ui" in banner
        token = re.search(r"token\s+(\S+)", banner).group(1)  # the development token it prints
        base = f"http://127.0.0.1:{port}"
        anonymous = httpx.post(f"{base}/offersets", content=EXAMPLE.read_bytes())
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
        auth = {"Authorization": f"Bearer {token}"}
        posted = httpx.post(f"{base}/offersets", content=EXAMPLE.read_bytes(),
                            headers={"Content-Type": "application/yaml"} | auth)
        assert posted.status_code == 303
        got = httpx.get(posted.headers["location"], headers={"Prefer": "wait=10", "Accept": "application/json"} | auth,
                        timeout=15)
        body = got.json()
        assert body["status"] == "COMPLETE" and body["result"] == "YES"
        assert {o["site"]["name"] for o in body["offers"]} == {"site-a", "site-b"}
        assert len(processes_mentioning(str(state))) >= 5  # planner, gateway, 2 agents, ...
        # The bundled client sends the development token by itself.
        env_cli = {k: v for k, v in env.items() if k != "EB_TOKEN"}
        asked = subprocess.run([sys.executable, "-m", "srcnet_eb.services.ebroker", "ask", str(EXAMPLE), "--url", base],
                               capture_output=True, text=True, timeout=30, env=env_cli)
        assert asked.returncode == 0 and ": YES" in asked.stdout, asked.stdout + asked.stderr
        offer = re.search(r"(http://\S+/sessions/\S+)", asked.stdout).group(1)
        refused = ebroker("reject", offer, "--token", "wrong", env=env_cli)
        assert refused.returncode == 1 and refused.stderr.startswith("ebroker: 401 ")
        assert "Authorization: unknown token" in refused.stderr and refused.stderr.count("\n") == 1, refused.stderr
        # EB_URL instead of --url; --json is the OfferSet document; a NO exits 1.
        at = env_cli | {"EB_URL": base}
        answered = ebroker("ask", "--json", str(EXAMPLE), env=at)
        assert answered.returncode == 0 and json.loads(answered.stdout)["result"] == "YES", answered.stderr
        no = tmp_path / "no.yaml"
        no.write_text(EXAMPLE.read_text().replace("min: 2", "min: 500").replace("max: 4", "max: 500"))
        refusal = ebroker("ask", str(no), env=at)
        assert refusal.returncode == 1 and ": NO" in refusal.stdout and "500 cores asked" in refusal.stdout
        # ls: the caller's OfferSets and sessions (a one-line error where the lists are not in yet: 405).
        listed = ebroker("ls", "--json", "--limit", "5", env=at)
        if listed.returncode == 1:
            assert listed.stderr == "ebroker: 405 Method Not Allowed: path: Method Not Allowed\n", listed.stderr
        else:
            found = json.loads(listed.stdout)
            assert listed.returncode == 0 and len(found["offersets"]) == 4 and len(found["sessions"]) == 5, found  # 4 asked
            assert [o["result"] for o in found["offersets"][:2]] == ["NO", "YES"]  # newest first
            assert found["offersets"][1]["uuid"] == json.loads(answered.stdout)["meta"]["uuid"]
        # A bare uuid is a session of this broker; an unknown one is a 404 on one line; a typo is a usage error.
        unknown = ebroker("accept", "6f0c1234-0000-0000-0000-000000000000", env=at)
        assert unknown.returncode == 1 and unknown.stderr.startswith("ebroker: 404 ") and unknown.stderr.count("\n") == 1
        typo = ebroker("accept", "6f0c", env=at)
        assert typo.returncode == 2 and typo.stderr == "ebroker: not a URL or uuid: '6f0c'\n"
        # Accept the offer the first ask printed and follow it: each phase once, exit 0 at COMPLETED.
        assert ebroker("accept", offer.rsplit("/", 1)[1], env=at).returncode == 0
        cancelled = ebroker("cancel", offer, "--json", env=at)
        assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["phase"] == "CANCELLED"
        watched = ebroker("watch", offer, env=at)
        lines = watched.stdout.splitlines()
        assert watched.returncode == 1 and lines[-1].split()[1] == "CANCELLED", watched.stdout  # cancelled: not done
        assert len(lines) == len(set(lines)), watched.stdout
        # Run now: with the demo sites' figures only site-b keeps within examples/costs.yaml's 0.5 kWh.
        ran = subprocess.run([sys.executable, "-m", "srcnet_eb.services.ebroker", "direct", str(EXAMPLE.parent / "costs.yaml"),
                              "--url", base], capture_output=True, text=True, timeout=60, env=env_cli)
        assert ran.returncode == 0 and "/sessions/" in ran.stdout and " at site-b " in ran.stdout, ran.stdout + ran.stderr
        assert re.search(r"\d kWh \S+ gCO2e \S+ EUR", ran.stdout), ran.stdout
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0, proc.stdout.read()
    assert time.monotonic() - started < 15
    assert processes_mentioning(str(state)) == []
    assert (state / "broker.db").exists()
    logs = {path.name: path.read_text() for path in (state / "logs").glob("*.log")}
    assert {name for name, text in logs.items() if not text.strip()} == set(), sorted(logs)
    assert "OfferSet" in logs["planner.log"] and "POST /offersets" in logs["gateway.log"]


def test_up_on_a_busy_port_says_so_at_once(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("EB_NATS_URL", "EB_DATABASE_URL")}
        up = ebroker("up", "--port", str(port), "--state", str(tmp_path / "state"), env=env, timeout=30)
    assert up.returncode == 2 and up.stdout == ""
    assert up.stderr == (f"ebroker up: port {port} on 127.0.0.1 is already in use (Address already in use); stop what "
                         f"listens there or choose another: ebroker up --port N (make up PORT=N)\n")
    assert not (tmp_path / "state" / "logs").exists()  # no child was started


def test_a_broker_that_is_down_is_one_line_and_exit_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("EB_TOKEN",)} | {"EB_URL": f"http://127.0.0.1:{free_port()}"}
    for args in (("ask", str(EXAMPLE)), ("watch", "6f0c1234-0000-0000-0000-000000000000"), ("ls",)):
        down = ebroker(*args, env=env)
        assert down.returncode == 2 and down.stdout == "", args
        assert down.stderr.startswith("ebroker: cannot reach the broker at http://127.0.0.1:") and down.stderr.count("\n") == 1
    missing = ebroker("ask", str(tmp_path / "none.yaml"), env=env)
    assert missing.returncode == 2 and missing.stderr == f"ebroker: cannot read {tmp_path / 'none.yaml'}: No such file or directory\n"
    usage = ebroker("ask", env=env)
    assert usage.returncode == 2 and usage.stderr == "ebroker: Missing argument 'request'. (see: ebroker ask --help)\n"
    shown = ebroker("--show-completion", "bash", env=env | {"SHELL": "/bin/bash"})
    assert shown.returncode == 0 and "_ebroker_completion" in shown.stdout
