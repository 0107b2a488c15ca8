"""The AsyncAPI document is generated from the code and names every subject and contract."""

from __future__ import annotations

import yaml

from srcnet_eb.services.ebroker.asyncapi import document
from srcnet_eb.shared import contracts as c


def test_asyncapi_documents_every_subject_and_message():
    doc = yaml.safe_load(document())
    assert doc["asyncapi"].startswith("3.")
    addresses = {ch["address"] for ch in doc["channels"].values()}
    assert {c.PLAN, c.AGENTS, c.PING, c.COMPLETED, c.HEARTBEATS, c.offers_subject("SITE"),
            c.heartbeat_subject("SITE")} <= addresses
    schemas = set(doc["components"]["schemas"])
    for model in ("PlanRequest", "OfferRequest", "SiteAnswer", "Heartbeat", "OfferSetCompleted"):
        assert any(model in name for name in schemas), (model, sorted(schemas))
