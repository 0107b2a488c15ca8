"""Handing an ExecutionRequest to the planners: the one place the gateway starts an OfferSet."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from uuid import UUID

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.channels import sends
from srcnet_eb.shared.nats.jetstream import publish
from srcnet_eb.shared.model import ExecutionRequest, error

from .payload import check_fits, serialize
from .problems import Problem
from .state import Gateway
from .unrecorded import Unrecorded

log = logging.getLogger(__name__)

sends("gateway-plan", c.PLAN, c.PlanRequest, "Plan an OfferSet (stream EB_PLANS)")


async def submit(gw: Gateway, offerset: UUID, request: ExecutionRequest, owner: str | None = None,
                 direct: bool = False) -> datetime:
    """Queue the request durably (JetStream, replicated), then record the OfferSet COLLECTING.

    In that order: once this returns (and the client gets its 303) the request is in the stream, so a
    planner will complete it even if this gateway dies now; and a GET finds the OfferSet at once.
    """
    created = datetime.now(UTC)
    plan = c.PlanRequest(offerset=offerset, request=request, received=created, owner=owner, direct=direct)
    payload = serialize(plan)  # once: what cannot be queued is refused now, not after the retries below
    check_fits(payload, gw.max_payload)
    try:
        await _queue(gw, plan.offerset, payload)
    except Exception as exc:  # no stream, no quorum, connection lost: nobody will plan it
        log.warning("offer request %s not queued: %r", offerset, exc)
        reason = error("The request could not be queued for the planners: {reason}", reason=type(exc).__name__)
        raise Problem(503, "No planner available", [reason]) from exc
    try:
        await gw.store.offersets.add(offerset, request, created=created, owner=owner, direct=direct)
    except Exception as exc:  # queued all the same: recorded once the database is back (here or by the planner)
        log.warning("OfferSet %s queued but not yet recorded: %r", offerset, exc)
        gw.unrecorded.hold(offerset, Unrecorded(request, created, owner, direct))
    return created


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
