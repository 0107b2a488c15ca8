"""Costs and metrics over real NATS and HTTP: estimates on every offer from the sites' figures, and the
client's limits honoured (an offer over one is not made, the NO names the limit)."""

from __future__ import annotations

import json

import pytest
import xmltodict
import yaml

from srcnet_eb.services.embedded.default import DEMO_FIGURES, DEMO_SITES
from srcnet_eb.shared.model import kinds
from srcnet_eb.shared.model import costs as c

from .test_offersets import EXAMPLES, JSON, post_and_wait, request, texts

ASTROML = "images.canfar.net/skaha/astroml:24.07"  # at both sites
# Two sites with different figures, as in `make up` (services/embedded/default.py DEMO_FIGURES).
FIGURES = {
    "site-a": {"watts_per_core": 12.0, "watts_per_gb": 0.3725, "pue": 1.2, "grid_intensity": 30.0},
    "site-b": {"watts_per_core": 7.5, "watts_per_gpu": 300.0, "watts_per_gb": 0.5, "pue": 1.4,
               "grid_intensity": 250.0, "price_per_core_hour": 0.02, "price_per_gpu_hour": 1.2,
               "price_currency": "EUR"},
}
CALYCOPIS_COST = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/costs/simple-minmax-float-cost.yaml"


@pytest.fixture
async def sites(broker, site_config):
    await broker.add_site("site-a", site_config("site-a"), total_cores=16, total_memory_gb=64, **FIGURES["site-a"])
    await broker.add_site("site-b", site_config("site-b"), total_cores=32, total_memory_gb=128, total_gpus=1,
                          **FIGURES["site-b"])
    await broker.wait_for_agents(2)
    return broker


def of(offer: dict, key: str = "costs") -> dict[str, float]:
    return {item["type"]: item["max"] for item in offer.get(key, [])}


def expected(site: str, cores: int, memory: int, hours: float) -> dict[str, float]:
    f = FIGURES[site]
    kwh = hours * (cores * f["watts_per_core"] + memory * f["watts_per_gb"]) * f["pue"] / 1000
    out = {c.CORE_HOURS: cores * hours, c.GPU_HOURS: 0.0, c.ENERGY: kwh, c.CARBON: kwh * f["grid_intensity"]}
    if "price_currency" in f:
        out[c.money(f["price_currency"])] = cores * hours * f["price_per_core_hour"]
    return out


async def test_every_offer_carries_estimates_computed_from_its_sites_figures(sites):
    body = await post_and_wait(sites, request(ASTROML, {"min": 2, "max": 2}, {"min": 4, "max": 4},
                                              schedule={"requested": {"duration": "PT2H"}}))
    assert body["result"] == "YES" and {o["site"]["name"] for o in body["offers"]} == {"site-a", "site-b"}
    for offer in body["offers"]:
        site = offer["site"]["name"]
        cores, memory = offer["compute"]["cores"]["min"], offer["compute"]["memory"]["min"]
        want = expected(site, cores, memory, 2.0)
        got = of(offer)
        assert set(got) == set(want), (site, got)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-6), (site, key)
        assert all(item["kind"] == kinds.SIMPLE_COST and item["min"] == item["max"] for item in offer["costs"])
        assert of(offer, "metrics") == {c.PUE: FIGURES[site]["pue"], c.GRID_INTENSITY: FIGURES[site]["grid_intensity"]}
    # The estimates are part of the stored offer: GET /sessions/{uuid} shows them too.
    one = (await sites.http.get(body["offers"][0]["meta"]["url"], headers=JSON)).json()
    assert of(one) == of(body["offers"][0])


async def test_an_energy_limit_keeps_only_the_offers_under_it_and_the_no_names_the_limit(sites):
    # 4 cores, 8 GiB for 10 h: site-a 0.61176 kWh, site-b 0.476 kWh. A limit of 0.5 kWh (2026-07 spelling) keeps site-b.
    doc = request(ASTROML, {"min": 4, "max": 4}, {"min": 8, "max": 8}, schedule={"requested": {"duration": "PT10H"}})
    doc["costs"] = [{"kind": CALYCOPIS_COST, "type": c.ENERGY, "max": 0.5}]
    body = await post_and_wait(sites, doc)
    assert body["result"] == "YES", texts(body)
    assert {o["site"]["name"] for o in body["offers"]} == {"site-b"}
    assert all(of(o)[c.ENERGY] <= 0.5 for o in body["offers"])
    assert "site-a: the estimated uri:srcnet-eb:cost:energy-kwh is 0.61176, over the limit 0.5 at costs[0]" in texts(body)
    # The refused offers' holds were released at once, not left to lapse at their expiry.
    assert len(sites.sites["site-a"].agent.ledger) == 0


async def test_limits_on_a_component_and_in_money_and_on_metrics(sites):
    doc = request(ASTROML, {"min": 2, "max": 2}, {"min": 4, "max": 4})
    doc["compute"]["costs"] = [{"kind": kinds.SIMPLE_COST, "type": c.money("EUR"), "max": 0.01}]
    body = await post_and_wait(sites, doc)
    # site-b asks 2 x 1 h x 0.02 EUR = 0.04 EUR; site-a sets no price (it charges nothing).
    assert {o["site"]["name"] for o in body["offers"]} == {"site-a"}
    assert "over the limit 0.01 at compute.costs[0]" in texts(body)

    doc = request(ASTROML, {"min": 2, "max": 2}, {"min": 4, "max": 4})
    doc["metrics"] = [{"kind": kinds.SIMPLE_METRIC, "type": c.GRID_INTENSITY, "max": 100}]
    body = await post_and_wait(sites, doc)
    assert {o["site"]["name"] for o in body["offers"]} == {"site-a"}
    assert ("site-b: uri:srcnet-eb:metric:grid-intensity-gco2e-per-kwh is 250; the limit at metrics[0] asks "
            "at most 100") in texts(body)
    assert len(sites.sites["site-b"].agent.ledger) == 0  # refused before anything was booked


async def test_a_limit_no_site_can_meet_is_a_no_naming_it_and_unknown_types_are_named(sites):
    doc = request(ASTROML, {"min": 2, "max": 2}, {"min": 4, "max": 4})
    doc["costs"] = [{"kind": kinds.SIMPLE_COST, "type": c.CARBON, "max": 0.5}]
    body = await post_and_wait(sites, doc)
    assert body["result"] == "NO" and body["offers"] == []
    assert "site-a: the estimated uri:srcnet-eb:cost:carbon-gco2e is" in texts(body)
    assert "over the limit 0.5 at costs[0]" in texts(body)

    doc["costs"] = [{"kind": kinds.SIMPLE_COST, "type": "uri:example:cost:karma", "max": 1}]
    body = await post_and_wait(sites, doc)
    assert body["result"] == "NO"
    assert "Unknown cost type uri:example:cost:karma at costs[0]" in texts(body)


async def test_bad_limits_are_422_naming_the_field_and_xml_carries_costs(sites):
    doc = request(ASTROML, {"min": 1, "max": 1})
    doc["costs"] = [{"kind": kinds.SIMPLE_COST, "type": c.ENERGY, "min": 3, "max": 1}]
    bad = await sites.http.post("/offersets", content=json.dumps(doc), headers=JSON)
    assert bad.status_code == 422
    assert "costs[0]: min (3) is greater than max (1)" in bad.text

    doc["costs"] = [{"kind": kinds.SIMPLE_COST, "type": c.ENERGY, "max": 100}]
    body = await post_and_wait(sites, doc)
    got = await sites.http.get(body["offers"][0]["meta"]["url"], headers={"Accept": "application/xml"})
    xml = xmltodict.parse(got.text)["execution"]
    assert {item["type"] for item in xml["costs"]} >= {c.ENERGY, c.CARBON, c.CORE_HOURS}


async def test_the_costs_example_with_the_demo_sites_figures(broker, site_config):
    """examples/costs.yaml against the figures `make up` gives its sites: site-b YES, site-a NO naming the limit."""
    for name in ("site-a", "site-b"):
        await broker.add_site(name, site_config(name), **DEMO_SITES[name], **DEMO_FIGURES[name])
    await broker.wait_for_agents(2)
    doc = yaml.safe_load((EXAMPLES / "costs.yaml").read_text())
    body = await post_and_wait(broker, doc)
    assert body["result"] == "YES" and {o["site"]["name"] for o in body["offers"]} == {"site-b"}, texts(body)
    assert "site-a: the estimated uri:srcnet-eb:cost:energy-kwh is" in texts(body)
    assert all(c.money("EUR") in of(o) for o in body["offers"])
