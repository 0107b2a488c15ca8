"""Another IVOA Execution Broker as a platform: its offers are ours, under the same session uuids.

A remote offer's uuid is our offer's uuid and our platform id, so launch (accept it there), status and
cancel need nothing stored: they survive an agent's restart and another replica taking the session over.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.platform.port import Proposal, Quote, RunState, RunStatus

from .remote import RemoteBroker, RemoteError
from .settings import BrokerSettings

KIND = "ebroker"
FINE = (200, 404, 409)  # done, unknown there, or past it already: nothing more to do
# The other broker's phases as a launched session's states (its offers' are PENDING until accepted there).
STATES = {
    m.Phase.PROPOSED: RunState.PENDING, m.Phase.OFFERED: RunState.PENDING, m.Phase.ACCEPTED: RunState.PENDING,
    m.Phase.WAITING: RunState.PENDING, m.Phase.PREPARING: RunState.PENDING,
    m.Phase.AVAILABLE: RunState.RUNNING, m.Phase.READY: RunState.RUNNING, m.Phase.RUNNING: RunState.RUNNING,
    m.Phase.RELEASING: RunState.STOPPING, m.Phase.COMPLETED: RunState.SUCCEEDED,
    m.Phase.FAILED: RunState.FAILED, m.Phase.CANCELLED: RunState.FAILED, m.Phase.REJECTED: RunState.FAILED,
    m.Phase.EXPIRED: RunState.FAILED,
}


class BrokerPlatform:
    kind = KIND
    runs = "sessions"

    def __init__(self, settings: BrokerSettings, remote: RemoteBroker | None = None) -> None:
        self.settings, self.site = settings, settings.site
        self.remote = remote or RemoteBroker(settings)
        self.name = self.remote.name

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.remote.aclose()

    async def capabilities(self) -> Capabilities:
        """From settings and the last call's outcome: a heartbeat costs the other broker nothing."""
        s = self.settings
        return Capabilities(executables=[m.kinds.DOCKER_CONTAINER, m.kinds.SINGULARITY_CONTAINER,
                                         m.kinds.JUPYTER_NOTEBOOK], max_cores=s.total_cores,
                            max_memory_gb=s.total_memory_gb, max_gpus=s.total_gpus,
                            reachable=self.remote.problem is None, detail=self.remote.problem)

    async def propose(self, request: m.ExecutionRequest) -> Proposal | list[m.Message]:
        """What it takes of the quota this site forwards; the other broker judges the rest (`quotes`)."""
        compute = request.simple_compute
        demand = Demand(compute.cores.min if compute.cores and compute.cores.min else 1,
                        compute.memory.min if compute.memory and compute.memory.min else 1, compute.gpus().min or 0)
        return Proposal(demand, f"Session via {self.name}")

    async def quotes(self, request: m.ExecutionRequest, window: Window) -> list[Quote] | list[m.Message]:
        """The other broker's offers for `request`, each to expire here a margin before it does there."""
        try:
            found = await self.remote.ask(request)
        except RemoteError as exc:
            return [m.error("{site}: {reason}", site=self.site, reason=exc.reason)]
        if found.result == "NO" or not found.offers:
            return [m.error("{site}: {remote} said NO: {reasons}", site=self.site, remote=self.name,
                            reasons="; ".join(found.messages) or "no reason given")]
        now, margin = datetime.now(UTC), timedelta(seconds=self.settings.remote_expiry_margin)
        quotes = [Quote(offer.uuid, offer.start or window.earliest, (offer.expires or window.expires) - margin,
                        offer.demand, f"{offer.description or 'Session'} via {self.name}")
                  for offer in found.offers if offer.phase in (None, m.Phase.OFFERED)]
        quotes = [q for q in quotes if q.expires > now]
        if not quotes:
            return [m.error("{site}: {remote}'s {count} offer(s) expire within {margin:g} s", site=self.site,
                            remote=self.name, count=len(found.offers), margin=margin.total_seconds())]
        return quotes

    async def withdraw(self, session: UUID) -> None:
        """Reject the offer there (one already over or unknown there is fine)."""
        code, reason = await self.remote.update(session, m.Phase.REJECTED)
        if code not in FINE:
            raise RemoteError(reason)

    async def launch(self, session: m.ExecutionSession) -> str:
        """Accept the offer there. Idempotent: one accepted before (or past it, or unknown there) is taken
        as launched, and `status` says what became of it."""
        uuid = session.meta.uuid
        code, reason = await self.remote.update(uuid, m.Phase.ACCEPTED)
        if code == 409:
            found = await self.remote.session(uuid)
            lapsed = found is not None and found.expires is not None and found.expires <= datetime.now(UTC)
            if found is not None and found.phase is m.Phase.OFFERED and not lapsed:
                raise RemoteError(reason)  # still an offer there, yet refused: ask again (the runtime retries)
        elif code not in FINE:
            raise RemoteError(reason)
        return str(uuid)

    async def status(self, platform_id: str) -> RunStatus:
        found = await self.remote.session(UUID(platform_id))
        if found is None:
            return RunStatus(RunState.GONE, f"{self.name} no longer knows session {platform_id}")
        state = STATES.get(found.phase) if found.phase else None
        if state is None:
            raise RemoteError(f"{self.name}: session {platform_id} is in an unknown phase")
        said = "; ".join(found.messages[:3])
        if state is RunState.FAILED:
            return RunStatus(state, f"{self.name}: {found.phase}" + (f": {said}" if said else ""))
        if found.phase is m.Phase.OFFERED and found.expires and found.expires <= datetime.now(UTC):
            return RunStatus(RunState.FAILED, f"{self.name}: the offer expired there before it was accepted")
        return RunStatus(state, f"{self.name}: {found.phase}", access=found.access if state is RunState.RUNNING else [])

    async def cancel(self, platform_id: str) -> None:
        code, reason = await self.remote.update(UUID(platform_id), m.Phase.CANCELLED)
        if code not in FINE:
            raise RemoteError(reason)

    async def extend(self, platform_id: str, until: datetime) -> None:
        return None  # the other broker keeps it as it offered it (its own schedule)

