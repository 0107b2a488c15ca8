"""`GET /sessions/{uuid}` and `POST /sessions/{uuid}` (accept, reject, cancel)."""

from __future__ import annotations

import logging
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from srcnet_eb.shared.model import EnumValueUpdate, ExecutionSession, Phase, normalize_update
from srcnet_eb.shared.model.lifecycle import CLIENT_PHASES
from srcnet_eb.shared.decisions import tell_sites
from srcnet_eb.shared.store.lifecycle import Changed, Conflict

from .auth import Caller, Principal
from .body import parse_request, response_media
from .openapi import answer, body
from .problems import ErrorResponse, Problem
from . import dialects, respond
from .state import Gateway, gateway

log = logging.getLogger(__name__)
router = APIRouter(tags=["sessions"])


@router.get(
    "/sessions/{uuid}",
    summary="Read an ExecutionSession (an offer, or an accepted session)",
    description="Extensions: `history` (every phase change with its time) and `observed` (the schedule the "
                "session kept); `executable.access` lists the URLs the platform gave.",
    responses={200: answer(ExecutionSession, "The session"), 401: answer(ErrorResponse, "No valid bearer token"),
               404: answer(ErrorResponse, "No such session, or not the caller's (the same answer)"),
               406: answer(ErrorResponse, "No acceptable media type"), 422: answer(ErrorResponse, "Not a UUID")},
    response_class=Response,
)
async def get_session(uuid: UUID, request: Request, gw: Annotated[Gateway, Depends(gateway)], who: Caller) -> Response:
    found = await gw.store.sessions.view(uuid, owned_by=who.owned_by)
    if found is None:
        raise Problem.field(404, "No such session", "uuid", f"no session {uuid}")
    return respond.session(request, gw.session_with_url(request, found[0]), found[1])


@router.post(
    "/sessions/{uuid}",
    summary="Update a session: accept or reject an offer, cancel a session",
    description="Body: `{kind: uri:enum-value-update, path: phase, value: ACCEPTED|REJECTED|CANCELLED}` "
                "(the older `{update: {type: ...}}` too). Accepting rejects every other offer of the OfferSet; "
                "of two clients racing to accept offers of one OfferSet exactly one wins.",
    openapi_extra=body(EnumValueUpdate, "The update"),
    responses={200: answer(ExecutionSession, "The session after the update"),
               401: answer(ErrorResponse, "No valid bearer token"),
               404: answer(ErrorResponse, "No such session, or not the caller's (the same answer)"),
               409: answer(ErrorResponse, "Not allowed in the session's phase"),
               422: answer(ErrorResponse, "Not an update this session offers")},
    response_class=Response,
)
async def post_session(uuid: UUID, request: Request, gw: Annotated[Gateway, Depends(gateway)], who: Caller) -> Response:
    response_media(request)
    dialects.wanted(request)
    update = await parse_request(request, EnumValueUpdate, gw.settings.max_body_bytes, normalize_update)
    if update.path != "phase":
        raise Problem.field(422, "Not an update this session offers", "path", f"'{update.path}' cannot be updated; "
                            "the only path is 'phase'")
    if update.value not in CLIENT_PHASES:
        raise Problem.field(422, "Not an update this session offers", "value",
                            f"'{update.value}' is not one of {', '.join(CLIENT_PHASES)}")
    source = source_of(who, request)
    try:
        changed = await _apply(gw, uuid, Phase(update.value), source, who)
    except LookupError as exc:
        raise Problem.field(404, "No such session", "uuid", f"no session {uuid}") from exc
    except Conflict as exc:
        raise Problem.field(409, "Not allowed in this phase", "value", exc.reason) from exc
    await tell_sites_now(gw, changed, Phase(update.value))
    session, dialect = await gw.store.sessions.view(uuid)  # the caller's: the update above found it so
    return respond.session(request, gw.session_with_url(request, session), dialect)


def source_of(who: Principal, request: Request, why: str = "") -> str:
    """Who changed a session, from where: the event's source (cut to the column's size)."""
    return f"{who.sub} via {request.client.host if request.client else 'gateway'}{why}"[:128]


async def _apply(gw: Gateway, uuid: UUID, phase: Phase, source: str, who: Principal) -> Changed:
    """The change, if the caller may make it: a session of another owner is, to it, no session (404)."""
    sessions = gw.store.sessions
    change = {Phase.ACCEPTED: sessions.accept, Phase.REJECTED: sessions.reject}.get(phase, sessions.cancel)
    return await change(uuid, source, actor=who.sub, owned_by=who.owned_by)


async def tell_sites_now(gw: Gateway, changed: Changed, phase: Phase) -> None:
    """The database holds the decision; the sites learn it through the durable command stream. If
    that fails, the planner's sweep re-sends LAUNCH and offers' holds lapse at their expiry."""
    target = changed.session
    try:
        await tell_sites(gw.commands, gw.store, changed, phase)
    except Exception:
        log.warning("could not tell site %s about %s now", target.site, target.uuid, exc_info=True)
        if phase is Phase.CANCELLED and target.phase is not Phase.OFFERED:
            raise Problem.field(503, "Cancel recorded, the site not yet told", "site",
                                f"site {target.site} could not be reached; send CANCELLED again") from None
