"""What an agent keeps about one accepted session, in the site's key-value bucket (one entry per
session, under its lease: see leases.py), and the times and capacity that follow from its offer."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from ..capacity import Demand, Reservation
from ..model.data import Did
from ..model.results import ResultLocation
from ..model import (
    ExecutionSession,
    Phase,
    RucioDataResource,
    S3DataResource,
    SimpleComputeResource,
    SkaoDataResource,
    parse_duration,
)


class SessionRecord(BaseModel):
    session: UUID
    offer: ExecutionSession
    phase: Phase = Phase.ACCEPTED
    platform_id: str | None = None
    rules: list[str] = Field(default_factory=list)  # the staging rules made for its data (Rucio's, S3 copies')
    cancel: bool = False
    owner: str | None = None  # the caller's identity (its OfferSet's owner), for a platform whose launch takes it
    outputs: str | None = None  # the folder of its results, once their upload was asked for (storage destinations)
    results: list[ResultLocation] | None = None  # where they went, once delivered
    trace: dict[str, str] = Field(default_factory=dict)  # its accept's trace context: a replica taking it over continues it

    @property
    def available_at(self) -> datetime:
        block = self.offer.schedule.preparing
        return block.start + parse_duration(block.duration)

    @property
    def ends_at(self) -> datetime:
        return self.available_at + parse_duration(self.offer.schedule.available.duration)

    @property
    def released_at(self) -> datetime:
        """The end of its release block: its results delivered by then."""
        block = self.offer.schedule.releasing
        return block.start + parse_duration(block.duration or "PT0S")

    def reservation(self) -> Reservation:
        """The capacity it takes, firm: from the start of preparation to the end of release."""
        schedule, compute = self.offer.schedule, self.offer.compute
        demand = Demand()
        if isinstance(compute, SimpleComputeResource):
            demand = Demand((compute.cores and compute.cores.min) or 0, (compute.memory and compute.memory.min) or 0,
                            compute.gpus().min or 0)
        return Reservation(self.session, schedule.preparing.start, self.released_at, demand, None)

    def dids(self) -> list[Did]:
        """The data it needs at the site."""
        out = []
        for item in self.offer.data:
            if isinstance(item, RucioDataResource):
                out.append(Did(scope=item.rucio.scope, name=item.rucio.object))
            elif isinstance(item, SkaoDataResource):
                out.append(Did(scope=item.skao.namespace, name=item.skao.objectname))
        return out

    def objects(self) -> list[S3DataResource]:
        """The S3 data it needs at the site (copied into the site's staging bucket unless it is there)."""
        return [item for item in self.offer.data if isinstance(item, S3DataResource)]


def ask_cancel(record: SessionRecord) -> bool:
    """The change another replica makes to a record it does not hold, for a CANCEL it received."""
    if record.cancel:
        return False
    record.cancel = True
    return True
