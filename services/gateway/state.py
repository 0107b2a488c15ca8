"""What the gateway's routes share: settings, store, NATS broker, completion waiters, authenticator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Request
from faststream.nats import NatsBroker

from srcnet_eb.shared.commands import Commands
from srcnet_eb.shared.settings import GatewaySettings
from srcnet_eb.shared.store import Store, documents

from .auth import Authenticator
from .session_feed import SessionFeed
from .unrecorded import UnrecordedOfferSets
from .waiters import CompletionWaiters


@dataclass
class Gateway:
    settings: GatewaySettings
    store: Store
    broker: NatsBroker
    waiters: CompletionWaiters
    commands: Commands
    auth: Authenticator
    max_payload: int = 1_048_576  # the NATS server's, learnt on connecting
    unrecorded: UnrecordedOfferSets | None = None  # queued, not yet in the database (made with the store)
    feed: SessionFeed | None = None  # wakes sessions' event streams (made with the store)

    def __post_init__(self) -> None:
        if self.unrecorded is None:
            self.unrecorded = UnrecordedOfferSets(self.store)
        if self.feed is None:
            self.feed = SessionFeed(self.store.events, self.settings.events_poll)

    def base_url(self, request: Request) -> str:
        return (self.settings.public_url or str(request.base_url)).rstrip("/")

    def offerset_url(self, request: Request, uuid: UUID) -> str:
        return f"{self.base_url(request)}/offersets/{uuid}"

    def session_url(self, request: Request, uuid: UUID) -> str:
        return f"{self.base_url(request)}/sessions/{uuid}"

    def with_urls(self, request: Request, offerset: dict[str, Any]) -> dict[str, Any]:
        return documents.with_urls(offerset, self.base_url(request))

    def session_with_url(self, request: Request, session: dict[str, Any]) -> dict[str, Any]:
        return documents.session_with_url(session, self.base_url(request))


async def gateway(request: Request) -> Gateway:  # async: a sync dependency costs a thread hop
    return request.app.state.gateway
