"""`POST /offers/release`: reject every open offer of the caller at once, so the sites let their holds go."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from srcnet_eb.shared.model import Phase
from srcnet_eb.shared.store.lifecycle import Conflict

from .auth import Caller
from .body import response_media
from .list_answers import Released
from .openapi import answer
from .problems import ErrorResponse
from .respond import reply
from .session_routes import source_of, tell_sites_now
from .state import Gateway, gateway

router = APIRouter(tags=["sessions"])


@router.post(
    "/offers/release",
    summary="Reject every open offer of the caller (its holds at the sites are released)",
    description="Every OFFERED session of the caller's OfferSets becomes REJECTED, as `POST /sessions/{uuid}` "
                "with REJECTED does one, and its site is told to release the capacity it held. `offerset`: only "
                "that OfferSet's offers; `keep`: all but that one. An operator releases its own offers only. "
                "No body.",
    responses={200: answer(Released, "The offers rejected now (an offer accepted, rejected or expired meanwhile "
                                     "is not among them)"),
               401: answer(ErrorResponse, "No valid bearer token"),
               406: answer(ErrorResponse, "No acceptable media type"),
               422: answer(ErrorResponse, "`offerset` or `keep` is not a UUID")},
    response_class=Response,
)
async def release_offers(
    request: Request,
    gw: Annotated[Gateway, Depends(gateway)],
    who: Caller,
    offerset: Annotated[UUID | None, Query(description="only this OfferSet's offers")] = None,
    keep: Annotated[UUID | None, Query(description="an offer (session uuid) to keep open")] = None,
) -> Response:
    response_media(request)
    source = source_of(who, request, " (release)")
    released = []
    for uuid in await gw.store.holds.open_offers(who.sub, offerset=offerset, keep=keep):
        try:
            changed = await gw.store.sessions.reject(uuid, source, actor=who.sub, owned_by=who.sub)
        except (LookupError, Conflict):  # accepted, rejected or expired since it was listed: not ours to release
            continue
        released.append(uuid)
        await tell_sites_now(gw, changed, Phase.REJECTED)  # as for one REJECTED update
    return reply(request, Released(released=len(released), sessions=released), "released")
