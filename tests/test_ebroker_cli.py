"""The embedded default as a user runs it: `ebroker up`, a request end to end, Ctrl-C stops every child."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from srcnet_eb.services.embedded.ports import free_port

from .embedded import processes_mentioning

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "astroml.yaml"


def test_up_serves_a_request_and_ctrl_c_stops_everything(tmp_path):
    port = free_port()
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in ("EB_NATS_URL", "EB_DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "srcnet_eb.services.ebroker", "up", "--port", str(port), "--state", str(state)],
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
        refused = subprocess.run([sys.executable, "-m", "srcnet_eb.services.ebroker", "reject", offer, "--token", "wrong"],
                                 capture_output=True, text=True, timeout=30, env=env_cli)
        assert refused.returncode == 1 and "401: Authorization: unknown token" in refused.stderr
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
