"""The caller owns its OfferSets and their sessions: others get the very 404 a uuid that does not exist
gets (uuids cannot be probed); the operator role sees and acts on everything. Over real HTTP, with the
store on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import select

from srcnet_eb.shared.store import tables

from .broker import ALICE, BOB, OPERATOR
from .quick_site import with_site_a
from .test_sessions import HEADLESS, phase_update, request, wait_phase

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture
async def federation(nats_url, store, site_config):
    """Planner, gateway and site-a over real NATS and HTTP, on the parametrized store."""
    async with with_site_a(nats_url, store, site_config) as b:
        b.planner.tracker.sweep_interval = 0.2
        yield b


async def ask(http: httpx.AsyncClient, doc: dict) -> dict:
    posted = await http.post("/offersets", content=json.dumps(doc), headers=JSON)
    assert posted.status_code == 303, posted.text
    got = await http.get(posted.headers["location"], headers={"Accept": "application/json", "Prefer": "wait=10"})
    assert got.status_code == 200 and got.json()["result"] == "YES", got.text
    return got.json()


def shape(got: httpx.Response, uid: str) -> dict:
    """The answer with the uuid and the time taken out: what a prober could compare."""
    body = got.json()
    for message in body["messages"]:
        message.pop("time", None)
    return {"status": got.status_code, "body": json.loads(json.dumps(body).replace(uid, "UUID"))}


async def test_others_get_the_404_of_a_uuid_that_does_not_exist(federation):
    alice, bob = federation.client(ALICE), federation.client(BOB)
    offerset = await ask(alice, request(HEADLESS, entrypoint="true"))
    offer = offerset["offers"][0]
    oid, sid = offerset["meta"]["uuid"], offer["meta"]["uuid"]
    missing = str(uuid.uuid4())

    for path, uid in ((f"/offersets/{oid}", oid), (f"/sessions/{sid}", sid)):
        asked = {"Accept": "application/json", "Prefer": "wait=5"}
        foreign, absent = await bob.get(path, headers=asked), await bob.get(path.replace(uid, missing), headers=asked)
        assert foreign.status_code == 404 and shape(foreign, uid) == shape(absent, missing)
        assert set(foreign.headers) == set(absent.headers)
    for value in ("ACCEPTED", "REJECTED", "CANCELLED"):
        foreign = await bob.post(f"/sessions/{sid}", content=phase_update(value), headers=JSON)
        absent = await bob.post(f"/sessions/{missing}", content=phase_update(value), headers=JSON)
        assert foreign.status_code == 404 and shape(foreign, sid) == shape(absent, missing)
    assert (await alice.get(f"/sessions/{sid}", headers=JSON)).json()["phase"] == "OFFERED"  # bob changed nothing

    got = await alice.post(f"/sessions/{sid}", content=phase_update("ACCEPTED"), headers=JSON)
    assert got.status_code == 200 and got.json()["phase"] in ("ACCEPTED", "WAITING", "PREPARING")
    done = await wait_phase(federation, offer, "COMPLETED", "FAILED")  # federation.http is alice's
    assert done["phase"] == "COMPLETED"
    assert (await bob.get(f"/sessions/{sid}", headers=JSON)).status_code == 404


async def test_the_operator_reads_and_cancels_any_session(federation):
    alice, operator = federation.client(ALICE), federation.client(OPERATOR)
    offerset = await ask(alice, request(HEADLESS, entrypoint="sleep 30"))
    oid = offerset["meta"]["uuid"]
    seen = await operator.get(f"/offersets/{oid}", headers=JSON)
    assert seen.status_code == 200 and seen.json()["meta"]["uuid"] == oid
    offer = offerset["offers"][0]
    assert (await alice.post(offer["meta"]["url"], content=phase_update("ACCEPTED"), headers=JSON)).status_code == 200
    got = await operator.post(offer["meta"]["url"], content=phase_update("CANCELLED"), headers=JSON)
    assert got.status_code == 200 and got.json()["phase"] == "CANCELLED"
    assert (await alice.get(offer["meta"]["url"], headers=JSON)).json()["phase"] == "CANCELLED"


async def test_every_step_is_in_the_audit_trail_with_who_and_where(federation):
    alice = federation.client(ALICE)
    offerset = await ask(alice, request(HEADLESS, entrypoint="true"))
    chosen = offerset["offers"][0]
    await alice.post(chosen["meta"]["url"], content=phase_update("ACCEPTED"), headers=JSON)
    await wait_phase(federation, chosen, "COMPLETED", "FAILED")
    a = tables.audit.c
    async with federation.store.engine.connect() as conn:
        rows = (await conn.execute(select(tables.audit).where(a.offerset == offerset["meta"]["uuid"])
                                   .order_by(a.id))).all()
    actions = [r.action for r in rows]
    assert actions[:2] == ["REQUEST", "COMPLETE"] and actions.count("OFFER") == len(offerset["offers"])
    assert rows[0].actor == "alice" and {r.owner for r in rows} == {"alice"}
    mine = [r for r in rows if r.session == chosen["meta"]["uuid"]]
    assert [r.action for r in mine][:3] == ["OFFER", "ACCEPT", "LAUNCH"]
    assert mine[1].actor == "alice" and mine[0].actor.startswith("site-a")
    assert {r.site for r in mine} == {"site-a"} and {r.platform for r in mine} == {"canfar"}
    reported = [r.detail["phase"] for r in mine if r.action == "PHASE"]
    assert reported[0] == "WAITING" and reported[-1] == "COMPLETED"
    assert any(r.detail.get("platform_id") for r in mine if r.action == "PHASE")  # the platform's own action
    siblings = [r for r in rows if r.action == "REJECT"]
    assert len(siblings) == len(offerset["offers"]) - 1 and all(r.actor == "alice" for r in siblings)


async def test_without_a_token_nothing_is_asked(federation):
    before = await federation.store.offersets.collecting()  # PostgreSQL's database is shared by the session's tests
    anonymous = federation.client(None)
    got = await anonymous.post("/offersets", content=json.dumps(request(HEADLESS)), headers=JSON)
    assert got.status_code == 401 and got.headers["www-authenticate"].startswith("Bearer")
    assert await federation.store.offersets.collecting() == before
