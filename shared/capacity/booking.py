"""Booking a request's offers in the site's shared ledger: the agent runtime's part, the same for every
platform (as an HPC back end of Funnel supplies only its own commands and the runtime does the rest).

The platform says what is its own (`Platform.propose`: how big the request is and what would run, or
why not; optionally `earliest_start`); booking does the rest: the window the offers may start in, the
longest session the site runs, the site's capacity, up to `max_offers` successive offers each holding its
block until the offers expire, all in one atomic `SharedLedger.book`, and the NO when nothing fits.
A platform that makes its own offers (`quotes`: another Execution Broker) has them booked as they are
instead (quoted.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from .. import model as m
from srcnet_eb.shared.platform.offers import Offers
from srcnet_eb.shared.platform.port import Answer, NoStart, Platform, Preparation, Proposal
from ..settings import AgentSettings, PlatformSettings
from ..metrics.registry import LEDGER_HOLDS
from .demand import Demand
from .ledger import SharedLedger
from .quoted import book_quotes
from .snapshot import CapacityLedger
from .window import Window

EarliestStart = Callable[[CapacityLedger, Demand, Window, datetime], Awaitable[datetime | None]]


async def next_fit(view: CapacityLedger, demand: Demand, window: Window, earliest: datetime) -> datetime | None:
    """When a platform has no `earliest_start` of its own: the ledger's first fit."""
    return view.next_fit(demand, earliest, window.block, window.latest)


async def successive_offers(window: Window, ledger: CapacityLedger, demand: Demand, max_offers: int,
                            find: Callable[[datetime], Awaitable[datetime | None]],
                            build: Callable[[uuid.UUID, datetime], m.ExecutionSession]) -> list[m.ExecutionSession]:
    """Up to `max_offers` alternatives, one after another, each holding its block in the ledger until the
    offers expire; `find(earliest)` is the platform's "when could it start". `ledger` is the view a
    `SharedLedger.book` plan is given, so the holds become the site's atomically."""
    offers: list[m.ExecutionSession] = []
    earliest = window.earliest
    while len(offers) < max_offers and earliest <= window.latest:
        start = await find(earliest)
        if start is None:
            break
        session = uuid.uuid4()
        ledger.reserve(session, start, start + window.block, demand, hold_until=window.expires)
        offers.append(build(session, start))
        earliest = start + window.block
    return offers


class Booking:
    """One platform's offers, booked in its site's ledger (`ledger` is a plain attribute: a test may swap it)."""

    def __init__(self, platform: Platform, ledger: SharedLedger, settings: AgentSettings) -> None:
        self.platform, self.ledger, self.settings = platform, ledger, settings
        self.site = settings.site
        self._earliest: EarliestStart = getattr(platform, "earliest_start", None) or next_fit

    @classmethod
    def in_memory(cls, platform: Platform, settings: PlatformSettings) -> Booking:
        """With a ledger of this process alone, of the settings' capacity (tests, the conformance kit)."""
        return cls(platform, SharedLedger(settings.capacity()), settings)

    async def offers(self, offerset: uuid.UUID, request: m.ExecutionRequest, preparation: Preparation) -> Answer:
        proposal = await self.platform.propose(request)
        if not isinstance(proposal, Proposal):
            return Answer.no(*proposal)
        s, site, demand = self.settings, self.site, proposal.demand
        window = Window.of(request, preparation, s)
        too_long = window.too_long(s, self.platform.runs)
        if too_long:
            return Answer.no(too_long)
        if not demand.within(self.ledger.total):
            return Answer.no(m.error("{site}: {cores} cores, {memory} GiB, {gpus} GPUs exceed the site's capacity",
                                     site=site, cores=demand.cores, memory=demand.memory_gb, gpus=demand.gpus))
        quotes = getattr(self.platform, "quotes", None)  # a platform that makes its own offers (a remote broker)
        if quotes is not None:
            return await book_quotes(quotes, getattr(self.platform, "withdraw", None), self.ledger, s, offerset,
                                     request, preparation, proposal, window, self.platform.kind)
        stopped: list[m.Message] = []
        build = Offers(request, demand, window, preparation=preparation, site=site, platform=self.platform.kind,
                       executable=proposal.executable, description=proposal.description)

        async def plan(view: CapacityLedger) -> list[m.ExecutionSession]:
            stopped.clear()  # a repeat (another replica booked meanwhile) starts afresh

            async def find(earliest: datetime) -> datetime | None:
                try:
                    return await self._earliest(view, demand, window, earliest)
                except NoStart as exc:
                    stopped.append(exc.message)
                    return None  # the offers found so far stand

            return await successive_offers(window, view, demand, s.max_offers, find, build)

        offers = await self.ledger.book(offerset, plan)  # atomic across the site's replicas
        LEDGER_HOLDS.inc(len(offers))
        if not offers:
            return Answer.no(*(stopped or [m.error(
                "{site}: no free capacity for {cores} cores, {memory} GiB, {gpus} GPUs in the requested window",
                site=site, cores=demand.cores, memory=demand.memory_gb, gpus=demand.gpus)]))
        return Answer(m.Result.YES, offers)
