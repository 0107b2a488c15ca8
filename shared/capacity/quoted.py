"""Booking the offers a platform made itself (`Platform.quotes`: another Execution Broker's offers).

Such a platform knows its starts and expiries, and each offer already has an identity there, so nothing
is searched for: each quote is booked as it is (start order, up to `max_offers`), only if it fits the
site's ledger (EB_TOTAL_* is the quota this site forwards), holding until the earlier of its own expiry
and the window's, all in one atomic `SharedLedger.book`. What is not booked is withdrawn there at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from .. import model as m
from srcnet_eb.shared.platform.offers import Offers
from srcnet_eb.shared.platform.port import Answer, Preparation, Proposal, Quote
from ..metrics.registry import LEDGER_HOLDS
from ..settings import AgentSettings
from .demand import Demand
from .ledger import SharedLedger
from .snapshot import CapacityLedger
from .window import Window

log = logging.getLogger(__name__)
Quotes = Callable[[m.ExecutionRequest, Window], Awaitable[list[Quote] | list[m.Message]]]
Withdraw = Callable[[uuid.UUID], Awaitable[None]]
WITHDRAW_WAIT = 10.0  # seconds one withdrawal may take (the offer lapses there anyway)


async def book_quotes(quotes: Quotes, withdraw: Withdraw | None, ledger: SharedLedger, settings: AgentSettings,
                      offerset: uuid.UUID, request: m.ExecutionRequest, preparation: Preparation,
                      proposal: Proposal, window: Window, kind: str) -> Answer:
    site = settings.site
    # This OfferSet's earlier holds (a request asked again) are dropped by the book: withdrawn there too.
    earlier = {r.id for r in ledger.view().reservations() if r.offerset == offerset and r.hold_until is not None}
    got = await quotes(request, window)
    if any(isinstance(item, m.Message) for item in got):  # (earlier holds stand, as after any NO)
        return Answer.no(*[item for item in got if isinstance(item, m.Message)])
    made = sorted((q for q in got if isinstance(q, Quote)), key=lambda q: q.start)
    builders: dict[tuple[Demand, str], Offers] = {}

    def build(quote: Quote, demand: Demand, hold: datetime) -> m.ExecutionSession:
        description = quote.description or proposal.description
        offers = builders.get((demand, description))
        if offers is None:
            offers = builders[(demand, description)] = Offers(
                request, demand, window, preparation=preparation, site=site, platform=kind,
                executable=proposal.executable, description=description)
        offer = offers(quote.session, quote.start)
        offer.expires = hold
        return launched_by(offer, hold)

    def plan(view: CapacityLedger) -> list[m.ExecutionSession]:
        now, booked = datetime.now(UTC), []
        for quote in made:
            demand, hold = quote.demand or proposal.demand, min(window.expires, quote.expires)
            end = quote.start + window.block
            if len(booked) >= settings.max_offers or quote.start > window.latest:
                break
            if hold > now and demand.within(view.total) and view.fits(quote.start, end, demand):
                view.reserve(quote.session, quote.start, end, demand, hold_until=hold)
                booked.append(build(quote, demand, hold))
        return booked

    offers = await ledger.book(offerset, plan)  # atomic across the site's replicas
    LEDGER_HOLDS.inc(len(offers))
    kept = {o.meta.uuid for o in offers}
    _withdraw(withdraw, (earlier | {q.session for q in made}) - kept)
    if not offers:
        demand = proposal.demand
        return Answer.no(m.error("{site}: no free capacity for {cores} cores, {memory} GiB, {gpus} GPUs in the "
                                 "site's quota at the {count} offered start(s)", site=site, cores=demand.cores,
                                 memory=demand.memory_gb, gpus=demand.gpus, count=len(made)))
    return Answer(m.Result.YES, offers)


def launched_by(offer: m.ExecutionSession, by: datetime) -> m.ExecutionSession:
    """Its preparation (whose start is when the agent launches it, i.e. accepts it on the platform) starts
    no later than `by`, the platform's own offer's expiry, still ending when it did: an offer accepted
    for a later start must not lapse there while the session waits here."""
    block = offer.schedule.preparing
    if block is None or block.start is None or block.start <= by:
        return offer
    longer = m.parse_duration(block.duration or "PT0S") + (block.start - by)
    offer.schedule.preparing = m.InstantBlock.model_construct(start=by, duration=m.format_duration(longer))
    return offer


_withdrawing: set[asyncio.Task] = set()  # (a task must be referenced while it runs)


def _withdraw(withdraw: Withdraw | None, sessions: set[uuid.UUID]) -> None:
    """In the background, not delaying the answer; best effort: an offer not withdrawn lapses there."""
    for session in sessions if withdraw is not None else ():
        task = asyncio.create_task(_one(withdraw, session))
        _withdrawing.add(task)
        task.add_done_callback(_withdrawing.discard)


async def _one(withdraw: Withdraw, session: uuid.UUID) -> None:
    try:
        await asyncio.wait_for(withdraw(session), WITHDRAW_WAIT)
    except Exception as exc:  # noqa: BLE001 - it lapses at its expiry there anyway
        log.warning("could not withdraw the unbooked offer %s: %r", session, exc)
