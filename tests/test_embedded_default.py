"""The embedded default keeps its promises (`ebroker up` in a subprocess, as a user runs it):

- each demo site runs a data agent: a simple-data-resource at a reachable URL gets offers, an
  unreachable one a NO naming the URL (never "site runs no data agent");
- the planner killed -9 under 20 in-flight requests: the supervisor starts it again and every
  OfferSet that got a 303 reaches COMPLETE;
- the same with the whole `ebroker up` stopped and started again on the same --state: the streams and
  the database are kept, and every OfferSet is completed (re-planned, and says so).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from srcnet_eb.services.embedded.default import Options
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.shared.model import kinds

from .embedded import Up, processes_mentioning

IMAGE = "images.canfar.net/skaha/astroml:24.07"
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
IN_FLIGHT = 20


def request(name: str, *data: dict) -> str:
    return json.dumps({"meta": {"name": name},
                       "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [IMAGE]}},
                       "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1, "max": 1}},
                       "data": list(data), "schedule": {"requested": {"duration": "PT1H"}}})


def completed(http: httpx.Client, url: str, timeout: float) -> dict:
    """The OfferSet once COMPLETE; fails if it is still COLLECTING after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        body = http.get(url, headers={"Accept": "application/json", "Prefer": f"wait={max(1, min(int(left), 10))}"},
                        timeout=20).json()
        if body["status"] == "COMPLETE" or left <= 0:
            assert body["status"] == "COMPLETE", body
            return body
        time.sleep(0.1)


def texts(doc: dict) -> str:
    return " | ".join(m.get("message", "") for m in doc["meta"].get("messages", []))


@pytest.fixture
def up(tmp_path) -> Iterator[Up]:
    # A short redelivery: a plan request its killed planner never acknowledged comes again after 3 s.
    broker = Up(tmp_path / "state", free_port(), EB_REDELIVERY="3")
    try:
        yield broker
    finally:
        broker.stop()
        assert processes_mentioning(str(broker.state)) == [], broker.output()


@pytest.fixture
def files(tmp_path) -> Iterator[str]:
    """A plain HTTP server on loopback serving a 3 MB file (the data a request names)."""
    (tmp_path / "cube.fits").write_bytes(b"\0" * 3_000_000)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_up_runs_a_data_agent_per_site_that_judges_urls(up, files):
    banner = up.start()
    assert "(4 live agents" in banner and "no Rucio configured" in banner, banner
    with up.client() as http:
        agents = http.get("/agents", headers={"Accept": "application/json"}).json()["agents"]
        assert {(a["site"], a["role"]) for a in agents} >= {("site-a", "data"), ("site-b", "data")}, agents
        url = f"{files}/cube.fits"
        posted = http.post("/offersets", content=request("here", {"kind": kinds.SIMPLE_DATA, "location": url}),
                           headers=JSON)
        assert posted.status_code == 303, posted.text
        yes = completed(http, posted.headers["location"], 30)
        assert yes["result"] == "YES" and {o["site"]["name"] for o in yes["offers"]} == {"site-a", "site-b"}, yes
        assert "no data agent" not in texts(yes)
        notes = " | ".join(m["message"] for m in yes["offers"][0]["meta"]["messages"])
        assert "3000000 bytes" in notes and url in notes, notes

        gone = f"http://127.0.0.1:{free_port()}/cube.fits"  # nothing listens there
        posted = http.post("/offersets", content=request("gone", {"kind": kinds.SIMPLE_DATA, "location": gone}),
                           headers=JSON)
        no = completed(http, posted.headers["location"], 30)
        assert no["result"] == "NO" and no["offers"] == [], no
        said = texts(no)
        assert gone in said and "cannot be reached" in said and "no data agent" not in said, said

        rucio = {"kind": kinds.RUCIO_DATA, "rucio": {"scope": "test", "object": "cube.fits"}}
        posted = http.post("/offersets", content=request("rucio", rucio), headers=JSON)
        unjudged = completed(http, posted.headers["location"], 30)
        assert unjudged["result"] == "NO" and "cannot judge rucio-data-resource" in texts(unjudged), unjudged


def _freeze_planner_and_post(up: Up, http: httpx.Client) -> tuple[int, list[str]]:
    """Stop the planner (SIGSTOP), post IN_FLIGHT requests (the gateway queues each and answers 303), then
    kill it -9: every one of them is in flight — queued or delivered to it, none completed."""
    planner = up.child("srcnet_eb.services.planner")
    os.kill(planner, signal.SIGSTOP)
    urls = []
    for n in range(IN_FLIGHT):
        posted = http.post("/offersets", content=request(f"in flight {n}"), headers=JSON)
        assert posted.status_code == 303, posted.text
        urls.append(posted.headers["location"])
    posted_at = time.monotonic()
    assert all(http.get(u, headers={"Accept": "application/json"}).json()["status"] == "COLLECTING" for u in urls)
    # Frozen past the requests' collect deadline: whether this planner had fetched a request or not, the
    # one that takes it next knows it for one whose first planning did not finish (and says so). Killed
    # at once, a restart quicker than the deadline would take the undelivered ones as new.
    time.sleep(max(0.0, posted_at + Options.collect_timeout + 0.5 - time.monotonic()))
    os.kill(planner, signal.SIGKILL)
    return planner, urls


def test_a_planner_killed_under_load_is_restarted_and_completes_every_offerset(up):
    up.start()
    with up.client() as http:
        killed, urls = _freeze_planner_and_post(up, http)
        up.wait_for_line("planner exited (code -9); starting it again", 10)
        up.wait_for_line("planner started again (restart 1)", 10)
        assert up.child("srcnet_eb.services.planner") != killed and up.proc.poll() is None  # the broker did not stop
        bodies = [completed(http, u, 60) for u in urls]
    assert all(b["result"] == "YES" and b["offers"] for b in bodies), [texts(b) for b in bodies]
    assert all("Re-planned by" in texts(b) for b in bodies)


def test_a_restart_on_the_same_state_completes_every_offerset(up):
    up.start()
    with up.client() as http:
        _, urls = _freeze_planner_and_post(up, http)
    assert up.stop() == 0  # Ctrl-C at once: the supervisor has not started the planner again
    assert "planner started again" not in up.output()
    assert (up.state / "nats" / "jetstream").is_dir()  # the streams live in --state, not in a temporary folder

    again = Up(up.state, up.port, EB_REDELIVERY="3")
    try:
        again.start()
        with again.client() as http:
            bodies = [completed(http, u, 60) for u in urls]
    finally:
        assert again.stop() == 0
    assert all(b["result"] == "YES" and b["offers"] for b in bodies), [texts(b) for b in bodies]
    assert all("Re-planned by" in texts(b) for b in bodies)
