"""The gateway application: FastAPI routes over the store, NATS towards the planner."""


import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.nats import NatsBroker

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.contracts import AgentList
from srcnet_eb.shared.model import EnumValueUpdate, ExecutionRequest, ExecutionSession, OfferSet
from srcnet_eb.shared.commands import Commands
from srcnet_eb.shared.nats.jetstream import ensure_streams
from srcnet_eb.shared.nats.connect import broker_options
from srcnet_eb.shared.settings import GatewaySettings
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.store.accounting import Accounting

from . import accounting_routes, agent_routes, direct_routes, offerset_routes, openapi, payload, problems, session_routes
from .auth import authenticator
from .problems import ErrorResponse
from .state import Gateway
from .waiters import CompletionWaiters

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

        @broker.subscriber(c.COMPLETED, title="gateway-completed", description="Wake Prefer: wait readers")
        async def completed(msg: c.OfferSetCompleted) -> None:
            waiters.completed(msg.offerset)

        await broker.start()
        try:
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
            await app.state.gateway.auth.close()
            await broker.stop()
            if own_store:
                await db.close()

    app = FastAPI(title="SRCNet Execution Broker", version="1.0", description=DESCRIPTION, lifespan=lifespan)
    problems.install(app)
    app.include_router(offerset_routes.router)
    app.include_router(direct_routes.router)
    app.include_router(session_routes.router)
    app.include_router(agent_routes.router)
    app.include_router(accounting_routes.router)
    openapi.install(app, [ExecutionRequest, OfferSet, ExecutionSession, EnumValueUpdate, ErrorResponse, AgentList,
                          Accounting])
    return app
