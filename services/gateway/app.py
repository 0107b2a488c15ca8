"""The gateway application: FastAPI routes over the store, NATS towards the planner."""


import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.nats import NatsBroker
from nats.aio.msg import Msg
from pydantic import ValidationError

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.contracts import AgentList
from srcnet_eb.shared.model import EnumValueUpdate, ExecutionRequest, ExecutionSession, OfferSet
from srcnet_eb.shared.commands import Commands
from srcnet_eb.shared.nats.jetstream import ensure_streams
from srcnet_eb.shared.nats.connect import broker_options
from srcnet_eb.shared.settings import GatewaySettings
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.store.accounting import Accounting
from srcnet_eb.shared.tracing.instrument import instrument_app

from . import (accounting_routes, agent_routes, direct_routes, event_routes, offerset_routes, openapi, payload, problems,
               session_routes)
from . import dashboard, docs_routes
from . import health_routes, list_routes, metrics_routes, release_routes
from .list_answers import OfferSetList, Released, SessionList
from .auth import authenticator
from .problems import ErrorResponse
from .state import Gateway
from .waiters import CompletionWaiters

log = logging.getLogger(__name__)

DESCRIPTION = """IVOA ExecutionBroker for SRCNet: post an ExecutionRequest, get an OfferSet of
ExecutionSession offers from every live site. Bodies are YAML (default), JSON or XML."""


def create_app(settings: GatewaySettings | None = None, store: Store | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        db = store or await Store.open(settings.database_url)
        waiters = CompletionWaiters()
        broker = NatsBroker(**broker_options(settings, name="gateway"), logger=None)

        async def completed(msg: Msg) -> None:  # on the raw connection: one decode, no FastStream per message
            try:
                waiters.completed(c.OfferSetCompleted.model_validate_json(msg.data).offerset)
            except ValidationError:
                log.warning("unreadable OfferSetCompleted dropped: %r", msg.data[:200])

        await broker.start()
        try:
            await broker.connection.subscribe(c.COMPLETED, cb=completed)  # documented in ebroker/asyncapi.py
            max_payload = broker.connection.max_payload
            payload.check_limits(settings, max_payload)  # refuse to serve limits the queue cannot carry
            js = broker.connection.jetstream()
            await ensure_streams(js, settings.jetstream_replicas)
        except BaseException:
            await broker.stop()
            if own_store:
                await db.close()
            raise
        app.state.gateway = Gateway(settings, db, broker, waiters, Commands(js), authenticator(settings), max_payload)
        # What start-up made lives as long as the process: keep the collector from scanning it again on
        # every full collection (a body of many small values triggers some, and they hold the GIL).
        gc.freeze()
        try:
            yield
        finally:
            await app.state.gateway.unrecorded.close()
            await app.state.gateway.feed.close()
            await app.state.gateway.auth.close()
            await broker.stop()
            if own_store:
                await db.close()

    app = FastAPI(title="SRCNet Execution Broker", version="1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # docs_routes serves them from packaged assets, not a CDN
    problems.install(app)
    app.include_router(offerset_routes.router)
    app.include_router(direct_routes.router)
    app.include_router(session_routes.router)
    app.include_router(agent_routes.router)
    app.include_router(accounting_routes.router)
    app.include_router(event_routes.router)
    app.include_router(list_routes.router)
    app.include_router(release_routes.router)
    app.include_router(health_routes.router)
    dashboard.install(app)
    docs_routes.install(app)
    metrics_routes.install(app, settings)
    openapi.install(app, [ExecutionRequest, OfferSet, ExecutionSession, EnumValueUpdate, ErrorResponse, AgentList,
                          Accounting, dashboard.DashboardConfig, OfferSetList, SessionList, Released])
    instrument_app(app)  # a server span per request, continuing the client's traceparent
    return app
