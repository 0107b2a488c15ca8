"""The AsyncAPI document is generated from the code and names every subject and contract."""

from __future__ import annotations

import pytest
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


def test_every_durable_reader_is_documented_from_its_real_handler():
    """The JetStream readers run on nats-py; the document must still show each, typed by the handler."""
    from srcnet_eb.services.planner.intake import PlanIntake
    from srcnet_eb.services.planner.tracker import Tracker
    from srcnet_eb.shared.agent.session_driver import SessionDriver
    from srcnet_eb.shared.nats.channels import CHANNELS, channel_of

    doc = yaml.safe_load(document())
    handlers = {PlanIntake.take: c.PlanRequest, Tracker.record: c.SessionEvent, SessionDriver.handle: c.SessionCommand}
    for handler, contract in handlers.items():
        channel = channel_of(handler)  # TypeError if the handler were not declared
        assert channel.contract is contract and CHANNELS[channel.title] is channel
        documented = doc["channels"][channel.title]
        assert documented["address"] == channel.subject and documented["description"] == channel.description
        assert doc["operations"][channel.title]["action"] == "receive"
        (message,) = documented["messages"].values()
        payload = doc["components"]["messages"][message["$ref"].rsplit("/", 1)[1]]["payload"]
        assert payload["$ref"].endswith(f"/{contract.__name__}"), payload
    for channel in CHANNELS.values():  # every declared channel, received or sent, is in the document
        assert doc["channels"][channel.title]["address"] == channel.subject
        assert doc["operations"][channel.title]["action"] == channel.direction.value


def test_a_consumer_needs_a_declared_handler():
    from srcnet_eb.shared.nats.consumer import DurableConsumer

    async def undeclared(value, delivery) -> None: ...

    with pytest.raises(TypeError):
        DurableConsumer.of(undeclared, subscribe=None)
