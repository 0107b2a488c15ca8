"""A reusable conformance test any platform plug-in can run against itself.

    from srcnet_eb.plugin import PlatformConformance

    class TestMyPlatform(PlatformConformance):
        async def make(self):               # a fresh platform and its settings (capacity: total_*)
            settings = MySettings(site="test", total_cores=8, total_memory_gb=32)
            return MyPlatform(settings), settings
        def yes_request(self): ...          # an ExecutionRequest this platform can run (and that ends by itself)
        def no_request(self): ...           # one it must refuse

pytest then runs every `test_*` below against the plug-in, over whatever real back end `make` uses.
Offers are booked as the agent runtime books them (`Booking`, in a ledger of this process alone).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.model import ExecutionRequest, Level, Phase, Result, SimpleComputeResource
from srcnet_eb.shared.platform.port import Platform, Preparation, RunState
from srcnet_eb.shared.settings import PlatformSettings


class PlatformConformance:
    timeout: float = 30.0  # seconds a launched session may take to run and end
    max_offers: int = 4

    async def make(self) -> tuple[Platform, PlatformSettings]:
        raise NotImplementedError

    def yes_request(self) -> ExecutionRequest:
        raise NotImplementedError

    def no_request(self) -> ExecutionRequest:
        raise NotImplementedError

    async def _started(self) -> tuple[Platform, Booking]:
        platform, settings = await self.make()
        await platform.start()
        return platform, Booking.in_memory(platform, settings)

    async def _until(self, platform: Platform, platform_id: str, states: set[RunState]) -> RunState:
        deadline = time.monotonic() + self.timeout
        while True:
            found = (await platform.status(platform_id)).state
            if found in states or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.2)

    async def test_it_is_a_platform(self):
        platform, _ = await self._started()
        try:
            assert isinstance(platform, Platform) and platform.kind
            assert isinstance(await platform.capabilities(), Capabilities)
        finally:
            await platform.stop()

    async def test_yes_gives_well_formed_offers_that_hold_capacity(self):
        platform, booking = await self._started()
        ledger = booking.ledger
        try:
            request = self.yes_request()
            answer = await booking.offers(uuid.uuid4(), request, Preparation())
            assert answer.result is Result.YES, answer.messages
            assert 1 <= len(answer.offers) <= self.max_offers
            now = datetime.now(UTC)
            asked = request.simple_compute
            for offer in answer.offers:
                assert offer.phase is Phase.OFFERED and offer.meta.uuid is not None and offer.site is not None
                assert offer.expires is not None and offer.expires > now
                blocks = offer.schedule
                assert blocks.preparing.start is not None and blocks.available.duration and blocks.releasing.start
                cores = offer.compute.cores if isinstance(offer.compute, SimpleComputeResource) else None
                if cores is not None and asked.cores is not None:
                    assert asked.cores.min is None or cores.min >= asked.cores.min
                    assert asked.cores.max is None or cores.max <= asked.cores.max
            starts = [o.schedule.preparing.start for o in answer.offers]
            assert starts == sorted(starts), "offers come in start order"
            assert len(ledger) >= len(answer.offers), "every offer holds its reservation in the ledger"
        finally:
            await platform.stop()

    async def test_no_says_why(self):
        platform, booking = await self._started()
        try:
            answer = await booking.offers(uuid.uuid4(), self.no_request(), Preparation())
            assert answer.result is Result.NO and answer.offers == []
            assert any(m.level in (Level.ERROR, Level.WARN) and m.message for m in answer.messages)
        finally:
            await platform.stop()

    async def test_open_offers_never_double_book(self):
        platform, booking = await self._started()
        ledger = booking.ledger
        try:  # at the same time: offers must be booked through `ledger.book`, not reserved beside it
            await asyncio.gather(*(booking.offers(uuid.uuid4(), self.yes_request(), Preparation()) for _ in range(3)))
            view = ledger.view()
            for held in view.reservations():
                assert view.used(held.start, held.end).within(view.total)
            assert ledger.total != Demand()
        finally:
            await platform.stop()

    async def test_the_same_offerset_asked_again_holds_only_its_new_offers(self):
        platform, booking = await self._started()
        ledger = booking.ledger
        try:  # a planner replaced mid-collection asks again: the first answer's holds must go
            offerset = uuid.uuid4()
            first = await booking.offers(offerset, self.yes_request(), Preparation())
            second = await booking.offers(offerset, self.yes_request(), Preparation())
            held = {r.id for r in ledger.view().reservations()}
            assert {o.meta.uuid for o in second.offers} <= held
            assert not {o.meta.uuid for o in first.offers} & held
        finally:
            await platform.stop()

    async def test_launch_runs_to_the_end_and_is_idempotent(self):
        platform, booking = await self._started()
        ledger = booking.ledger
        try:
            offer = (await booking.offers(uuid.uuid4(), self.yes_request(), Preparation())).offers[0]
            assert await ledger.confirm(offer.meta.uuid)
            first = await platform.launch(offer)
            assert await platform.launch(offer) == first, "a second launch finds the first"
            end = await self._until(platform, first, {RunState.SUCCEEDED, RunState.FAILED})
            assert end is RunState.SUCCEEDED
        finally:
            await platform.stop()

    async def test_cancel_stops_it(self):
        platform, booking = await self._started()
        try:
            offer = (await booking.offers(uuid.uuid4(), self.yes_request(), Preparation())).offers[0]
            running = await platform.launch(offer)
            await self._until(platform, running, {RunState.RUNNING, RunState.SUCCEEDED})
            await platform.cancel(running)
            await platform.cancel(running)  # twice is fine
            end = await self._until(platform, running, {RunState.GONE, RunState.FAILED, RunState.SUCCEEDED})
            assert end in (RunState.GONE, RunState.FAILED, RunState.SUCCEEDED)
        finally:
            await platform.stop()
