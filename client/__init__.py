"""The Python client of the Execution Broker (`srcnet_eb.client`): `Broker(url, token)`, async, on httpx.

    async with Broker() as eb:                      # EB_URL / EB_TOKEN, else the embedded default's
        offerset = await eb.ask(Path("examples/astroml.yaml"), wait=10)
        session = await eb.accept(offerset.offers[0])
        async for event in eb.watch(session):
            print(event.phase)

Every error is a `BrokerError` (the gateway's Problem: status, title, field, detail); a broker that
cannot be reached is its subclass `Unreachable`."""

from .broker import DEFAULT_URL, Broker
from .errors import BrokerError, Unreachable
from .items import Event, OfferSetItem, Released, SessionItem

__all__ = ["Broker", "BrokerError", "DEFAULT_URL", "Event", "OfferSetItem", "Released", "SessionItem", "Unreachable"]
