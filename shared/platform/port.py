"""The port a platform plug-in implements. The agent runtime does everything else: NATS, heartbeats,
queue groups, booking offers in the site's shared capacity ledger (`srcnet_eb.shared.capacity.booking`:
the platform only says how big a request is, what it would run and, if it knows better than the ledger,
when it could start), confirming and releasing them, retries and the session state machine."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from enum import StrEnum
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from srcnet_eb.shared.capacity.demand import Demand
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.model import Component, ExecutionRequest, ExecutionSession, Message, Result


@dataclass
class Answer:
    """A platform's answer to one request: offers (YES) or the reasons it cannot (NO)."""

    result: Result
    offers: list[ExecutionSession] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    busy: bool = False  # shed unjudged (the site is saturated): no verdict on the request, ask again

    @classmethod
    def no(cls, *messages: Message) -> Answer:
        return cls(Result.NO, [], list(messages))

    @classmethod
    def shed(cls, *messages: Message) -> Answer:
        """A NO that says only "too busy now", sent at once rather than after the planner stopped listening."""
        return cls(Result.NO, [], list(messages), busy=True)


@dataclass(frozen=True)
class Proposal:
    """What a platform would run for one request: how much of the site it takes and what its offers say."""

    demand: Demand
    description: str  # the offer's meta.description, e.g. "Slurm job at site-a"
    executable: Component | None = None  # what the site runs, when it settles more than the request said


@dataclass(frozen=True)
class Quote:
    """One offer a platform that makes its own offers (another Execution Broker) has made: booked as it is
    (`quotes`), not searched for in the ledger. Its session uuid is the one our offer takes, so launch,
    status and cancel need no stored mapping (they survive a restart and a replica's takeover)."""

    session: uuid.UUID  # our offer's meta.uuid: the platform's own offer's (e.g. the remote session's uuid)
    start: datetime  # when its reservation starts (as `earliest_start` answers)
    expires: datetime  # the latest it may be accepted there: our offer expires no later
    demand: Demand | None = None  # what it takes, when it differs from the Proposal's
    description: str | None = None  # its offer's meta.description, when it differs from the Proposal's


class NoStart(Exception):
    """Raised by a platform's `earliest_start` when its back end cannot say (it is down, it refused): the
    search stops there, the offers found so far stand, and with none this message is the NO's reason."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.message)
        self.message = message


@dataclass(frozen=True)
class Preparation:
    """What must happen before compute can start, as the planner learnt it from the site's data agent."""

    not_before: datetime | None = None
    staging: timedelta = timedelta(0)
    notes: tuple[Message, ...] = ()


class RunState(StrEnum):
    """A launched session as the platform sees it; the runtime maps it onto IVOA phases."""

    PENDING = "PENDING"  # accepted by the platform, not yet running (pulling, queued)
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"  # on its way out but still holding its resources (Skaha's Terminating)
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    GONE = "GONE"  # the platform no longer knows it


@dataclass
class RunStatus:
    state: RunState
    detail: str | None = None  # the platform's own words, e.g. "Failed: exit 1"
    access: list[str] = field(default_factory=list)  # URLs a client connects to (e.g. Skaha connectURL)
    ends: datetime | None = None  # when the platform will stop it by itself (e.g. Skaha expiryTime)


@runtime_checkable
class Platform(Protocol):
    kind: str  # e.g. "canfar", "slurm"
    runs: str  # what it runs, in the plural, for messages: "sessions", "jobs"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def capabilities(self) -> Capabilities: ...

    async def propose(self, request: ExecutionRequest) -> Proposal | list[Message]:
        """How big `request` is here and what would run; or why this site cannot run it (the NO's reasons).
        The runtime then books up to `max_offers` offers in the site's ledger."""

    async def launch(self, session: ExecutionSession) -> str:
        """Start the accepted session; returns the platform's id for it. Idempotent: if the platform
        already runs this session (an agent restarted mid-launch), return that one."""

    async def status(self, platform_id: str) -> RunStatus: ...

    async def cancel(self, platform_id: str) -> None:
        """Stop it and free its resources; no error if it is already gone."""

    async def extend(self, platform_id: str, until: datetime) -> None:
        """Make sure the platform keeps it running until `until` (within what was offered)."""

    # Optional, looked up by the runtime when a platform has them:
    #   async earliest_start(view: CapacityLedger, demand: Demand, window: Window, earliest: datetime)
    #       -> datetime | None
    #       the first start >= earliest (within window.latest) where it could run for window.block; None:
    #       none. Without it, the ledger's next fit. A platform whose own queue decides (Slurm) asks it here,
    #       testing the demand plus view.used(...), the site's held offers; raises NoStart if it cannot say.
    #   check_mounts(mounts: list[srcnet_eb.shared.platform.mounts.Mount]) -> list[Message]
    #       what this platform cannot mount (after the checks every platform shares); empty: all fine.
    #   access_for(session: ExecutionSession, urls: list[str]) -> list[str]
    #       the URLs a client opens, from the platform's own (e.g. a notebook's file in a Skaha session).
    #   async quotes(request: ExecutionRequest, window: Window) -> list[Quote] | list[Message]
    #       a platform that makes its own offers (another Execution Broker): those offers, each with the
    #       session uuid ours takes, its start and its expiry; or the NO's reasons. Called after `propose`
    #       (whose demand and description are the default of each quote) and the window and capacity checks;
    #       the runtime books exactly these (start order, up to max_offers, each only if it fits the site's
    #       ledger: EB_TOTAL_* is the quota), holding each until min(its expiry, the window's), in one atomic
    #       book, instead of searching for starts. The quotes it does not book are withdrawn at once.
    #   async withdraw(session: uuid.UUID) -> None
    #       let go of one of those offers now (rejected, expired, another accepted, not booked), rather than
    #       leave it held until it expires there. Called on RELEASE of an offer, in the background; best
    #       effort: an error is logged, never retried (the offer lapses there anyway).
    #   launch(session, owner: str | None = None)
    #       a `launch` with an `owner` keyword is given the caller's identity (the OfferSet's owner, e.g. an
    #       OIDC `sub`; None when the gateway authenticates no one), to run the session as that user
    #       (JupyterHub: the hub user). A launch without it is called as before (see launch_as).

    #   async outputs(platform_id: str) -> str | None
    #       the folder on the site's file system holding the session's results (Docker: the host folder of its
    #       READWRITE storage mount; Slurm: the job's working folder), or None. At RELEASING the site's data agent
    #       (which must see that folder) puts its files where the request's storage `destination` says. Without
    #       it, a request naming a destination is answered NO.

def launch_as(platform: Platform, session: ExecutionSession, owner: str | None) -> Awaitable[str]:
    """`platform.launch(session)`, with `owner=` when its launch takes that keyword (looked up through the
    runtime's wrappers, which keep the signature)."""
    try:
        takes = "owner" in inspect.signature(platform.launch).parameters
    except (TypeError, ValueError):  # no signature to read (a C callable): called as before
        takes = False
    return platform.launch(session, owner=owner) if takes else platform.launch(session)
