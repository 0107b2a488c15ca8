"""GET /offersets and GET /sessions: the caller's own (an operator's: everyone's), newest first, paged by an
opaque cursor, filtered, in JSON, YAML and XML; bad parameters a 422 naming them. Over real HTTP, NATS and a
site, with the store on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import xmltodict
import yaml

from srcnet_eb.shared.store import Store

from .broker import ALICE, BOB, OPERATOR
from .quick_site import with_site_a
from .test_sessions import HEADLESS, request

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
READ = {"Accept": "application/json"}


@pytest.fixture
async def federation(nats_url, fresh_database_url, site_config):
    """Planner, gateway and site-a over real NATS and HTTP, on a store of the test's own (SQLite, PostgreSQL)."""
    store = await Store.open(fresh_database_url)
    try:
        async with with_site_a(nats_url, store, site_config) as b:
            yield b
    finally:
        await store.close()


async def ask(http: httpx.AsyncClient, doc: dict | None = None) -> dict:
    posted = await http.post("/offersets", content=json.dumps(doc or request(HEADLESS, entrypoint="true")),
                             headers=JSON)
    assert posted.status_code == 303, posted.text
    got = await http.get(posted.headers["location"], headers={**READ, "Prefer": "wait=10"})
    assert got.status_code == 200 and got.json()["status"] == "COMPLETE", got.text
    return got.json()


async def every_page(http: httpx.AsyncClient, url: str) -> tuple[list[dict], int]:
    """Every item, following `next` (checked against the Link header); and how many pages."""
    items, pages = [], 0
    while url:
        got = await http.get(url, headers=READ)
        assert got.status_code == 200, got.text
        body = got.json()
        pages += 1
        items += body["items"]
        url = body.get("next")
        assert got.headers.get("link") == (f'<{url}>; rel="next"' if url else None)
    return items, pages


def uuids(items: list[dict]) -> list[str]:
    return [item["uuid"] for item in items]


async def test_offersets_are_paged_newest_first_without_repeats_or_gaps(federation):
    alice, bob, operator = federation.client(ALICE), federation.client(BOB), federation.client(OPERATOR)
    mine = [(await ask(alice))["meta"]["uuid"] for _ in range(5)]
    theirs = (await ask(bob))["meta"]["uuid"]

    items, pages = await every_page(alice, "/offersets?limit=2")
    assert uuids(items) == mine[::-1] and pages == 3
    first = items[0]
    assert first["url"] == f"{federation.base_url}/offersets/{first['uuid']}"
    assert first["status"] == "COMPLETE" and first["result"] == "YES" and first["offers"] == 4
    assert "accepted" not in first

    # Written between two pages: neither repeated nor shifting the next page.
    page = (await alice.get("/offersets?limit=2", headers=READ)).json()
    newer = (await ask(alice))["meta"]["uuid"]
    rest, _ = await every_page(alice, page["next"])
    assert uuids(page["items"]) + uuids(rest) == mine[::-1]
    assert uuids((await alice.get("/offersets?limit=1", headers=READ)).json()["items"]) == [newer]

    # Ownership: bob sees only his; the operator everyone's, or one owner's.
    assert uuids((await every_page(bob, "/offersets"))[0]) == [theirs]
    everyone = uuids((await every_page(operator, "/offersets?limit=3"))[0])
    assert everyone == [newer, theirs, *mine[::-1]]
    assert uuids((await every_page(operator, "/offersets?owner=bob"))[0]) == [theirs]
    assert uuids((await every_page(bob, "/offersets?owner=bob"))[0]) == [theirs]
    refused = await bob.get("/offersets?owner=alice", headers=READ)
    assert refused.status_code == 403 and refused.json()["messages"][0]["values"]["field"] == "query.owner"


async def test_offersets_filters(federation):
    alice = federation.client(ALICE)
    yes = await ask(alice)
    no = await ask(alice, request("images.canfar.net/skaha/nowhere:1.0", entrypoint="true"))
    assert no["result"] == "NO"
    ids = {"yes": yes["meta"]["uuid"], "no": no["meta"]["uuid"]}

    async def listed(query: str) -> list[str]:
        return uuids((await every_page(alice, f"/offersets?{query}"))[0])

    assert await listed("result=YES") == [ids["yes"]]
    assert await listed("result=NO") == [ids["no"]]
    assert await listed("status=COMPLETE") == [ids["no"], ids["yes"]]
    assert await listed("status=COLLECTING") == []
    assert await listed("site=site-a") == [ids["yes"]]
    assert await listed("site=site-z") == []
    split = yes["meta"]["created"]  # the first one's creation: `since` includes it, `until` excludes it
    assert await listed(f"since={split}") == [ids["no"], ids["yes"]]
    assert await listed(f"until={split}") == []
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert await listed(f"since={split}&until={later}&result=YES") == [ids["yes"]]


async def test_sessions_are_paged_and_filtered(federation):
    alice, bob, operator = federation.client(ALICE), federation.client(BOB), federation.client(OPERATOR)
    first, second = await ask(alice), await ask(alice)
    bobs = await ask(bob)
    offers = [o["meta"]["uuid"] for o in first["offers"] + second["offers"]]
    rejected = first["offers"][0]["meta"]["uuid"]
    update = {"kind": "uri:enum-value-update", "path": "phase", "value": "REJECTED"}
    assert (await alice.post(f"/sessions/{rejected}", json=update, headers=JSON)).status_code == 200

    items, pages = await every_page(alice, "/sessions?limit=3")
    assert sorted(uuids(items)) == sorted(offers) and len(set(uuids(items))) == len(offers) and pages == 3
    assert [(i["created"], i["uuid"]) for i in items] == sorted(((i["created"], i["uuid"]) for i in items),
                                                                reverse=True)
    assert set(uuids(items[:4])) == {o["meta"]["uuid"] for o in second["offers"]}  # the newest first
    one = next(i for i in items if i["uuid"] == rejected)
    assert one["offerset"] == first["meta"]["uuid"] and one["site"] == "site-a" and one["platform"] == "canfar"
    assert one["phase"] == "REJECTED" and one["url"] == f"{federation.base_url}/sessions/{rejected}"
    assert one["expires"] and one["start"] and one["created"] and one["modified"]

    async def listed(who: httpx.AsyncClient, query: str) -> set[str]:
        return set(uuids((await every_page(who, f"/sessions?{query}"))[0]))

    assert await listed(alice, "phase=REJECTED") == {rejected}
    assert await listed(alice, "phase=OFFERED") == set(offers) - {rejected}
    assert await listed(alice, "phase=REJECTED,OFFERED") == set(offers)
    assert await listed(alice, "phase=REJECTED&phase=ACCEPTED") == {rejected}
    assert await listed(alice, f"offerset={second['meta']['uuid']}") == {o["meta"]["uuid"] for o in second["offers"]}
    assert await listed(alice, "site=site-a") == set(offers)
    assert await listed(alice, "site=site-b") == set()
    assert await listed(alice, f"offerset={bobs['meta']['uuid']}") == set()  # not hers: not there
    assert await listed(alice, f"since={second['offers'][0]['meta']['modified']}") == \
        {o["meta"]["uuid"] for o in second["offers"]}
    bob_offers = {o["meta"]["uuid"] for o in bobs["offers"]}
    assert await listed(bob, "") == bob_offers
    assert await listed(operator, "") == set(offers) | bob_offers
    assert await listed(operator, "owner=bob&phase=OFFERED") == bob_offers


@pytest.mark.parametrize("path", ["/offersets", "/sessions"])
async def test_lists_answer_in_json_yaml_and_xml(federation, path):
    await ask(federation.http)
    root = {"/offersets": "offerset-list", "/sessions": "session-list"}[path]
    as_json = (await federation.http.get(f"{path}?limit=1", headers=READ))
    assert as_json.headers["content-type"] == "application/json"
    body = as_json.json()
    assert body["kind"] == root and len(body["items"]) == 1

    as_yaml = await federation.http.get(f"{path}?limit=1", headers={"Accept": "application/yaml"})
    assert as_yaml.headers["content-type"] == "application/yaml"
    assert yaml.safe_load(as_yaml.text) == body

    as_xml = await federation.http.get(f"{path}?limit=1", headers={"Accept": "application/xml"})
    assert as_xml.headers["content-type"] == "application/xml"
    tree = xmltodict.parse(as_xml.text)[root]
    assert tree["@kind"] == root and tree["items"]["uuid"] == body["items"][0]["uuid"]
    assert tree.get("next") == body.get("next") and as_xml.headers.get("link") == as_json.headers.get("link")


@pytest.mark.parametrize(("path", "query", "field"), [
    ("/offersets", "cursor=not-a-cursor", "query.cursor"),
    ("/offersets", "cursor=eyJsIjoic2Vzc2lvbnMiLCJjIjoiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsInUiOiIwMDAwMDAwMC0wMDAw"
                   "LTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAifQ", "query.cursor"),  # a sessions cursor
    ("/offersets", "cursor=eyJsIjoib2ZmZXJzZXRzIiwiYyI6IjAwMDEtMDEtMDFUMDA6MDA6MDArMDE6MDAiLCJ1IjoieCJ9",
     "query.cursor"),  # its instant overflows, its uuid is none
    ("/offersets", "limit=0", "query.limit"),
    ("/offersets", "limit=201", "query.limit"),
    ("/offersets", "limit=many", "query.limit"),
    ("/offersets", "status=DONE", "query.status"),
    ("/offersets", "result=MAYBE", "query.result"),
    ("/offersets", "since=yesterday", "query.since"),
    ("/offersets", "until=2026-13-01", "query.until"),
    ("/offersets", "since=2026-02-01&until=2026-01-01", "query.since"),
    ("/sessions", "phase=NOPE", "query.phase"),
    ("/sessions", "phase=OFFERED,", "query.phase"),
    ("/sessions", "offerset=abc", "query.offerset"),
    ("/sessions", "cursor=%%%", "query.cursor"),
    ("/sessions", "limit=-1", "query.limit"),
    ("/sessions", "since=0001-01-01T00:00:00%2B01:00", "query.since"),
])
async def test_a_bad_parameter_is_a_422_naming_it(broker, path, query, field):
    got = await broker.http.get(f"{path}?{query}", headers=READ)
    assert got.status_code == 422, got.text
    assert [m["values"]["field"] for m in got.json()["messages"]] == [field], got.text
