"""What the gateway's routes share: settings, store, NATS broker, completion waiters."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from fastapi import Request
from faststream.nats import NatsBroker

from shared.model import ExecutionSession, OfferSet
from shared.settings import GatewaySettings
from shared.store import Store

from .waiters import CompletionWaiters


@dataclass
class Gateway:
    settings: GatewaySettings
    store: Store
    broker: NatsBroker
    waiters: CompletionWaiters

    def base_url(self, request: Request) -> str:
        return (self.settings.public_url or str(request.base_url)).rstrip("/")

    def offerset_url(self, request: Request, uuid: UUID) -> str:
        return f"{self.base_url(request)}/offersets/{uuid}"

    def session_url(self, request: Request, uuid: UUID) -> str:
        return f"{self.base_url(request)}/sessions/{uuid}"

    def with_urls(self, request: Request, offerset: OfferSet) -> OfferSet:
        offerset.meta.url = self.offerset_url(request, offerset.meta.uuid)
        for offer in offerset.offers:
            self.session_with_url(request, offer)
        return offerset

    def session_with_url(self, request: Request, session: ExecutionSession) -> ExecutionSession:
        session.meta.url = self.session_url(request, session.meta.uuid)
        return session


def gateway(request: Request) -> Gateway:
    return request.app.state.gateway
