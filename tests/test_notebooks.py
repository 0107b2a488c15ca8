"""Notebooks and Singularity images on CANFAR: offers and sessions over real NATS, real HTTP to the
Skaha stand-in (the demo sites' image lists) and a real database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from srcnet_eb.services.canfar_agent.platform import CanfarPlatform
from srcnet_eb.services.canfar_agent.settings import CanfarSettings
from srcnet_eb.services.canfar_agent.skaha import SkahaClient
from srcnet_eb.services.canfar_agent import notebooks
from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.platform.port import Preparation
from srcnet_eb.standins.skaha.app import create_app
from srcnet_eb.standins.skaha.server import running_standin

from .test_sessions import AGENT, FAST, JSON, session, standin_sessions, update, wait_phase

ASTROML = "images.canfar.net/skaha/astroml:24.07"  # a notebook image at both demo sites
CUDA = "images.canfar.net/skaha/astroml-cuda:24.07"  # site-b only
CASA = "images.canfar.net/skaha/casa:6.6"  # site-a, but no notebook type
APPTAINER = "images.canfar.net/skaha/apptainer:1.3"  # site-a's headless image with Apptainer
NOTEBOOK = "/arc/home/alice/analysis.ipynb"


def notebook(location: str = NOTEBOOK, image: str | None = None, duration: str = "PT1H") -> dict:
    executable = {"kind": m.kinds.JUPYTER_NOTEBOOK, "location": location}
    if image:
        executable["image"] = {"locations": [image]}
    return {"meta": {"name": "notebook"}, "executable": executable,
            "compute": {"kind": m.kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 2}},
            "schedule": {"requested": {"duration": duration}}}


def singularity(location: str = "docker://images.canfar.net/skaha/tools:1.0") -> dict:
    return {"meta": {"name": "sif"}, "executable": {"kind": m.kinds.SINGULARITY_CONTAINER, "location": location},
            "compute": {"kind": m.kinds.SIMPLE_COMPUTE, "cores": {"min": 1}, "memory": {"min": 2}},
            "schedule": {"requested": {"duration": "PT1H"}}}


async def offerset(broker, doc: dict) -> dict:
    posted = await broker.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    assert posted.status_code == 303, posted.text
    got = await broker.http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    return got.json()


def by_site(body: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for offer in body["offers"]:
        found.setdefault(offer["site"]["name"], []).append(offer)
    return found


def errors(body: dict) -> str:
    return " | ".join(msg["message"] for msg in body["meta"]["messages"] if msg["level"] == "ERROR")


@pytest.fixture
async def demo(broker, site_config):
    """The embedded default's two sites, as `make up` configures them (site-a runs Singularity images)."""
    broker.planner.tracker.sweep_interval = 0.2
    await broker.add_site("site-a", site_config("site-a", **FAST), singularity_image=APPTAINER, **AGENT)
    await broker.add_site("site-b", site_config("site-b", **FAST), **AGENT)
    await broker.wait_for_agents(2)
    return broker


async def test_a_notebook_gets_offers_from_both_canfar_sites_in_their_notebook_image(demo):
    body = await offerset(demo, notebook())
    assert body["status"] == "COMPLETE" and body["result"] == "YES", body
    sites = by_site(body)
    assert set(sites) == {"site-a", "site-b"}
    for offer in body["offers"]:
        executable = offer["executable"]
        assert executable["kind"] == m.kinds.JUPYTER_NOTEBOOK and executable["location"] == NOTEBOOK
        assert executable["image"]["locations"] == [ASTROML]  # the site's first notebook image, said on the offer
        assert "notebook session" in offer["meta"]["description"]


async def test_a_named_notebook_image_is_used_where_the_site_offers_it_for_notebooks(demo):
    body = await offerset(demo, notebook(image=CUDA))
    assert set(by_site(body)) == {"site-b"}
    assert all(o["executable"]["image"]["locations"] == [CUDA] for o in body["offers"])
    assert f"site-a: notebook image {CUDA} is not offered" in errors(body)
    body = await offerset(demo, notebook(image=CASA))
    assert body["result"] == "NO"
    assert f"site-a: notebook image {CASA} is offered, but not for notebook sessions" in errors(body)


async def test_a_notebook_elsewhere_than_the_sites_filesystem_is_a_no_naming_it(demo):
    body = await offerset(demo, notebook("https://example.org/nb/analysis.ipynb"))
    assert body["result"] == "NO" and body["offers"] == []
    assert "notebook https://example.org/nb/analysis.ipynb is not on the site's filesystem" in errors(body)


async def test_a_notebook_session_opens_the_notebook_and_runs_to_completed(demo):
    body = await offerset(demo, notebook("projects/analysis.ipynb", duration="PT2S"))
    offer = by_site(body)["site-a"][0]
    assert (await update(demo, offer, "ACCEPTED")).status_code == 200
    running = await wait_phase(demo, offer, "RUNNING")
    url = running["executable"]["access"][0]["locations"][0]
    skaha = standin_sessions(demo.sites["site-a"])
    assert [(s["type"], s["image"]) for s in skaha] == [("notebook", ASTROML)]
    sid = skaha[0]["id"]
    # Skaha's connect URL, pointed at the notebook (relative: in the user's home).
    assert url == (f"https://standin.skaha.invalid/session/notebook/{sid}/lab/tree/arc/home/standin-user/"
                   f"projects/analysis.ipynb?token={sid}")
    done = await wait_phase(demo, offer, "COMPLETED", "FAILED", timeout=30)
    assert done["phase"] == "COMPLETED", done["history"]
    assert [h["phase"] for h in done["history"]][-2:] == ["RELEASING", "COMPLETED"]
    assert done["executable"]["access"][0]["status"] == "FINISHED"


async def test_singularity_images_run_only_where_the_site_supports_them(demo):
    body = await offerset(demo, singularity())
    assert set(by_site(body)) == {"site-a"}
    assert "site-b: this CANFAR site runs no Singularity images" in errors(body)
    offer = body["offers"][0]
    assert APPTAINER in offer["meta"]["description"] and "headless session" in offer["meta"]["description"]
    assert (await update(demo, offer, "ACCEPTED")).status_code == 200
    done = await wait_phase(demo, offer, "COMPLETED", "FAILED", timeout=30)
    assert done["phase"] == "COMPLETED", done["history"]
    assert [(s["type"], s["image"]) for s in standin_sessions(demo.sites["site-a"])] == [("headless", APPTAINER)]


async def test_a_singularity_session_runs_the_image_with_the_sites_command(site_config):
    """What the agent sends Skaha: the Apptainer image, headless, `apptainer run <location>`."""
    app = create_app(site_config("site-a", **FAST))
    settings = CanfarSettings(site="site-a", skaha_url="http://skaha.test/skaha", nats_url="nats://unused",
                              skaha_cache_ttl=0.0, singularity_image=APPTAINER)
    # In process (ASGI): to look at what Skaha was sent, which its API does not show.
    platform = CanfarPlatform(settings, client=SkahaClient(settings.skaha_url, transport=httpx.ASGITransport(app),
                                                           cache_ttl=0.0))
    booking = Booking.in_memory(platform, settings)
    try:
        spaced = m.ExecutionRequest.model_validate(singularity("oras://registry.example.org/my tools:1"))
        refused = await booking.offers(uuid.uuid4(), spaced, Preparation())
        assert refused.result is m.Result.NO and "cannot pass a location with spaces" in refused.messages[0].message
        request = m.ExecutionRequest.model_validate(singularity("oras://registry.example.org/tools:1"))
        answer = await booking.offers(uuid.uuid4(), request, Preparation())
        assert answer.result is m.Result.YES, answer.messages
        await platform.launch(answer.offers[0])
        [created] = app.state.store.sessions.values()
        assert (created.type, created.image, created.cmd, created.args) == (
            "headless", APPTAINER, "apptainer", "run oras://registry.example.org/tools:1")
    finally:
        await platform.stop()


def test_notebook_locations_and_the_url_that_opens_them():
    connect = "https://h/session/notebook/abc/lab/tree/arc/home/alice?token=abc"
    assert notebooks.open_url(connect, "/arc/projects/x/nb.ipynb") == \
        "https://h/session/notebook/abc/lab/tree/arc/projects/x/nb.ipynb?token=abc"
    assert notebooks.open_url(connect, "file:///arc/home/alice/a%20b.ipynb") == \
        "https://h/session/notebook/abc/lab/tree/arc/home/alice/a%20b.ipynb?token=abc"
    assert notebooks.open_url(connect, "work/nb.ipynb") == \
        "https://h/session/notebook/abc/lab/tree/arc/home/alice/work/nb.ipynb?token=abc"
    assert notebooks.path_of("https://example.org/nb.ipynb") is None
    assert notebooks.path_of("/arc/../arc/x.ipynb") == "/arc/x.ipynb"


async def test_the_standin_refuses_a_session_type_the_image_lacks_as_skaha_does(site_config):
    async with running_standin(site_config("site-a")) as url, httpx.AsyncClient() as http:
        got = await http.post(f"{url}/v1/session", data={"name": "x", "image": CASA, "type": "notebook"})
        assert got.status_code == 400 and f"image/type mismatch: {CASA}/notebook" in got.text
        got = await http.post(f"{url}/v1/session", data={"name": "x", "image": ASTROML, "type": "notebook"})
        assert got.status_code == 200
        assert (await http.get(f"{url}/v1/session", params={"type": "notebook"})).json()[0]["type"] == "notebook"


async def test_a_session_stays_findable_by_its_notebook(demo):
    """GET /sessions/{uuid} of a notebook offer shows the notebook and its image (nothing lost in the store)."""
    body = await offerset(demo, notebook())
    found = await session(demo, body["offers"][0])
    assert found["executable"]["location"] == NOTEBOOK and found["executable"]["image"]["locations"] == [ASTROML]


async def test_the_notebook_example_gets_yes_offers_from_both_demo_sites(demo):
    example = (Path(__file__).resolve().parents[1] / "examples" / "notebook.yaml").read_text()
    posted = await demo.http.post("/offersets", content=example, headers={"Content-Type": "application/yaml"})
    assert posted.status_code == 303, posted.text
    body = (await demo.http.get(posted.headers["location"], headers={"Accept": "application/json",
                                                                     "Prefer": "wait=10"})).json()
    assert body["result"] == "YES" and set(by_site(body)) == {"site-a", "site-b"}, body["meta"]["messages"]


async def test_a_full_interactive_quota_is_a_no_and_a_refused_launch_fails_the_session(demo):
    """Skaha caps an account's interactive sessions (3 here): at the cap, a notebook is a NO at once; an
    accepted one Skaha refuses to start is FAILED once its start has passed, never left PREPARING."""
    body = await offerset(demo, notebook())
    offer = by_site(body)["site-a"][0]
    skaha = demo.sites["site-a"].skaha
    async with httpx.AsyncClient() as http:
        for i in range(3):  # the account's other notebooks, started meanwhile
            got = await http.post(f"{skaha}/v1/session", data={"name": f"other{i}", "image": ASTROML,
                                                               "type": "notebook"})
            assert got.status_code == 200, got.text
    again = await offerset(demo, notebook())
    assert set(by_site(again)) == {"site-b"}
    assert "site-a: the site's Skaha account has its 3 interactive sessions running already" in errors(again)
    assert (await update(demo, offer, "ACCEPTED")).status_code == 200
    failed = await wait_phase(demo, offer, "FAILED", "RUNNING", timeout=30)
    assert failed["phase"] == "FAILED", failed["history"]
    assert "has reached the maximum of 3 active sessions" in failed["history"][-1]["messages"][0]["message"]
