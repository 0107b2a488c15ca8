"""`ebroker up` (what `make up` runs) adds a Docker site and a JupyterHub site when the machine can run
them, and both serve a whole session: a container on the engine to COMPLETED, a notebook on the hub's
own server to RUNNING (its link answers through the hub's proxy) and then CANCELLED; Ctrl-C then stops
the hub, its proxy and its servers with everything else.

The Docker site is pointed (DOCKER_HOST, as an operator would) at the tests' private engine, whose
image is the small busybox one; the hub is the venv scripts/jupyterhub/install.sh made.
"""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest
from srcnet_eb.services.embedded.ports import free_port
from srcnet_eb.shared.model import kinds

from .docker_engine import IMAGE
from .embedded import Up, processes_mentioning
from .jupyterhub_hub import JupyterHubUnavailable, provision
from .required import unavailable
from .test_embedded_default import completed
from .test_sessions import phase_update

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
FINAL = {"COMPLETED", "FAILED", "CANCELLED"}


@pytest.fixture
def hub_venv():
    try:
        found = provision()
    except JupyterHubUnavailable as exc:
        unavailable("EB_REQUIRE_JUPYTERHUB", "a test JupyterHub", exc)
    return found


def _container() -> str:
    return json.dumps({"meta": {"name": "up-docker"},
                       "executable": {"kind": kinds.DOCKER_CONTAINER, "image": {"locations": [IMAGE]},
                                      "entrypoint": "sh -c 'echo hello from up; sleep 1'"},
                       "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1, "max": 1},
                                   "memory": {"min": 1, "max": 1}},
                       "schedule": {"requested": {"duration": "PT10M"}}})


def _notebook() -> str:
    return json.dumps({"meta": {"name": "up-notebook"},
                       "executable": {"kind": kinds.JUPYTER_NOTEBOOK, "location": "analysis.ipynb"},
                       "compute": {"kind": kinds.SIMPLE_COMPUTE, "cores": {"min": 1, "max": 1},
                                   "memory": {"min": 1, "max": 1}},
                       "schedule": {"requested": {"duration": "PT10M"}}})


def _offer(http: httpx.Client, body: str, site: str) -> dict:
    posted = http.post("/requests", content=body, headers=JSON)
    assert posted.status_code == 303, posted.text
    offerset = completed(http, posted.headers["location"], 30)
    mine = [o for o in offerset["offers"] if o["site"]["name"] == site]
    assert mine, offerset
    return mine[0]


def _until(http: httpx.Client, uuid: str, phases: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        session = http.get(f"/sessions/{uuid}", headers={"Accept": "application/json", "Prefer": "wait=5"}).json()
        if session["phase"] in phases or time.monotonic() > deadline:
            assert session["phase"] in phases, session
            return session
        time.sleep(0.2)


def test_up_adds_a_docker_and_a_jupyterhub_site_that_run_sessions(tmp_path, docker_engine, hub_venv):
    state = tmp_path / "state"
    up = Up(state, free_port(), "--no-slurm", DOCKER_HOST=docker_engine.host, EB_JUPYTERHUB_VENV=str(hub_venv))
    try:
        banner = up.start(timeout=120)
        assert "(6 live agents" in banner and "Docker site: docker-local" in banner, banner
        assert "JupyterHub site: jupyterhub-local http://127.0.0.1:" in banner, banner
        with up.client() as http:
            agents = http.get("/agents", headers={"Accept": "application/json"}).json()["agents"]
            assert {(a["site"], a["platform"]) for a in agents} >= {("docker-local", "docker"),
                                                                    ("jupyterhub-local", "jupyterhub")}, agents

            offer = _offer(http, _container(), "docker-local")
            accepted = http.post(f"/sessions/{offer['meta']['uuid']}", content=phase_update("ACCEPTED"), headers=JSON)
            assert accepted.status_code in (200, 303), accepted.text
            ran = _until(http, offer["meta"]["uuid"], FINAL)
            assert ran["phase"] == "COMPLETED", ran

            offer = _offer(http, _notebook(), "jupyterhub-local")
            uuid = offer["meta"]["uuid"]
            assert http.post(f"/sessions/{uuid}", content=phase_update("ACCEPTED"), headers=JSON).status_code in (200, 303)
            running = _until(http, uuid, {"RUNNING"} | FINAL, timeout=90)
            assert running["phase"] == "RUNNING", running
            # The notebook opened as the caller's hub user ('dev', the development token's identity).
            link = re.search(r'"(http://127\.0\.0\.1:\d+/user/dev/[^"]+)"', json.dumps(running))
            assert link is not None, running
            link = link.group(1)
            with httpx.Client(base_url=link.split("/user/")[0], follow_redirects=True, timeout=20) as browser:
                browser.get("/hub/login")
                login = browser.post("/hub/login", data={"username": "dev", "password": "any",
                                                         "_xsrf": browser.cookies.get("_xsrf", "")})
                assert login.status_code == 200, login.text[:500]
                assert browser.get(link).status_code == 200
            cancelled = http.post(f"/sessions/{uuid}", content=phase_update("CANCELLED"), headers=JSON)
            assert cancelled.status_code in (200, 303), cancelled.text
            assert _until(http, uuid, FINAL)["phase"] == "CANCELLED"
    finally:
        up.stop()
    assert processes_mentioning(str(state)) == [], up.output()
