"""Handing an ExecutionRequest to the planners: the one place the gateway starts an OfferSet."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from uuid import UUID

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.channels import sends
from srcnet_eb.shared.nats.jetstream import publish
from srcnet_eb.shared.model import ExecutionRequest, Message, Result, error

from .payload import check_fits, serialize
from .problems import Problem
from .state import Gateway
from .unrecorded import Unrecorded

log = logging.getLogger(__name__)

sends("gateway-plan", c.PLAN, c.PlanRequest, "Plan an OfferSet (stream EB_PLANS)")


async def submit(gw: Gateway, offerset: UUID, request: ExecutionRequest, owner: str | None = None,
                 direct: bool = False, callback: c.CallbackTarget | None = None) -> datetime:
    """Queue the request durably (JetStream, replicated) and record the OfferSet COLLECTING, side by side
    (the stream's acknowledgement and the database's commit overlap), returning once both are done.

    So once this returns (and the client gets its 303) the request is in the stream, and a planner will
    complete it even if this gateway dies now; and a GET finds the OfferSet at once. A request the stream
    refused is recorded NO, saying so: no planner will take it, and recovery must not queue it again.
    A callback travels with the request (the planner records it before it completes the OfferSet) and is
    recorded here too, for an OfferSet that recovery re-queues from the database.
    """
    created = datetime.now(UTC)
    plan = c.PlanRequest(offerset=offerset, request=request, received=created, owner=owner, direct=direct,
                         callback=callback)
    payload = serialize(plan)  # once: what cannot be queued is refused now, not after the retries below
    check_fits(payload, gw.max_payload)
    queued, recorded, *noted = await asyncio.gather(
        _queue(gw, plan.offerset, payload),
        gw.store.offersets.add(offerset, request, created=created, owner=owner, direct=direct),
        *([gw.store.callbacks.add(offerset, callback.url, callback.base_url, created)] if callback else []),
        return_exceptions=True)
    if noted and isinstance(noted[0], BaseException):  # the planner records it with the OfferSet
        log.warning("callback of OfferSet %s not recorded here: %r", offerset, noted[0])
    if isinstance(queued, BaseException):  # no stream, no quorum, connection lost: nobody will plan it
        log.warning("offer request %s not queued: %r", offerset, queued)
        reason = error("The request could not be queued for the planners: {reason}", reason=type(queued).__name__)
        if not isinstance(recorded, BaseException):
            await _refused(gw, offerset, reason)
        raise Problem(503, "No planner available", [reason]) from queued
    if isinstance(recorded, BaseException):  # queued all the same: recorded once the database is back
        log.warning("OfferSet %s queued but not yet recorded: %r", offerset, recorded)
        gw.unrecorded.hold(offerset, Unrecorded(request, created, owner, direct))
    return created


async def _refused(gw: Gateway, offerset: UUID, reason: Message) -> None:
    try:
        await gw.store.offersets.complete(offerset, Result.NO, [reason], [])
    except Exception as exc:  # the database went too: recovery re-queues it, which is no harm
        log.warning("OfferSet %s not queued, and not marked so: %r", offerset, exc)


async def _queue(gw: Gateway, offerset: UUID, payload: bytes) -> None:
    """Publish until the stream stores it or the budget is spent: a cluster electing a new stream
    leader (a node just died) refuses for a moment. The uuid is the Nats-Msg-Id, so a publish
    that was stored but whose acknowledgement was lost is stored once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + gw.settings.plan_ack_timeout
    delay = 0.05
    while True:
        left = deadline - loop.time()
        try:
            # Short tries: a try sent to a node that just died waits in vain, the next goes elsewhere.
            await publish(gw.commands.js, c.PLAN, payload, str(offerset), timeout=min(max(left, 0.05), 1.0))
            return
        except Exception:
            if loop.time() + delay >= deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
