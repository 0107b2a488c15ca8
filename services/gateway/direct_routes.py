"""`POST /direct` (2026-07): run now, without the offer round trip.

The request travels like `POST /requests` (durably, on EB_PLANS) marked direct; the planner gathers
the sites' offers, saves the OfferSet and accepts its best offer (services/planner/direct.py) before
it announces completion. So the 303 to the session is given only once the acceptance is in the
database, from where the LAUNCH cannot be lost (the planner's sweep re-sends it).
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from srcnet_eb.shared.model import ExecutionRequest, ExecutionSession, Message, Meta, OfferSet, OfferSetStatus, Result, error

from . import callback_param, plans
from .auth import Caller
from .body import parse_request, response_media
from .offerset_routes import _BODY_ERRORS, _ERRORS
from .openapi import answer, body
from .problems import ErrorResponse, Problem
from .respond import reply
from .state import Gateway, gateway

router = APIRouter(tags=["direct"])


@router.post(
    "/direct",
    status_code=303,
    summary="Run now, without the offer round trip",
    description="Post an ExecutionRequest (YAML when no Content-Type). The broker gathers offers as for "
    "`POST /requests`, accepts the best one at once (the soonest available, then the least carbon, then the "
    "least energy; its siblings are rejected and their reservations released) and answers 303 See Other to "
    "the session, with the session in the body. When nothing can run it: 422 with the OfferSet's reasons "
    "(`Link` names the OfferSet). Still planning after `EB_DIRECT_WAIT` seconds (no planner yet): 202 with "
    "the OfferSet's `Location`; the planner accepts the best offer when it completes it.",
    openapi_extra=body(ExecutionRequest, "The ExecutionRequest, in the newest (`kind` + `meta`) or the older form"),
    responses={303: answer(ExecutionSession, "See Other: the accepted session, Location header points to it"),
               202: answer(OfferSet, "Accepted, still planning: Location points to the OfferSet"),
               409: answer(ErrorResponse, "Offers were made but none could be accepted (all expired meanwhile)"),
               **{k: v for k, v in _ERRORS.items() if k != 404}, **_BODY_ERRORS,
               400: answer(ErrorResponse, "Malformed body, or an unknown `dialect` query parameter"),
               422: answer(ErrorResponse, "Invalid request, or no site can run it now; messages say why")},
    response_class=Response,
)
async def post_direct(request: Request, gw: Annotated[Gateway, Depends(gateway)], who: Caller,
                      callback: callback_param.CallbackQuery = None) -> Response:
    response_media(request)
    target = callback_param.target(gw, request, callback)
    execution = await parse_request(request, ExecutionRequest, gw.settings.max_body_bytes)
    offerset_id = uuidlib.uuid4()
    with gw.waiters.watch(offerset_id) as completed:  # before submitting: the completion cannot be missed
        created = await plans.submit(gw, offerset_id, execution, owner=who.sub, direct=True, callback=target)
        try:
            await asyncio.wait_for(completed.wait(), gw.settings.direct_wait)
        except TimeoutError:
            pass
    accepted = await gw.store.offersets.accepted_in(offerset_id)
    if accepted is not None:
        session = await gw.store.sessions.document(accepted)
        location = gw.session_url(request, accepted)
        return reply(request, gw.session_with_url(request, session), "execution", 303, {"Location": location})
    url = gw.offerset_url(request, offerset_id)
    offerset = await gw.store.offersets.document(offerset_id)
    if offerset is None or offerset["status"] == OfferSetStatus.COLLECTING:
        doc = offerset or OfferSet(meta=Meta(uuid=offerset_id, name=execution.meta.name, created=created,
                                             modified=created)).wire()
        return reply(request, gw.with_urls(request, doc), "offers-response", 202, {"Location": url})
    reasons = [Message.model_validate(m) for m in offerset["meta"].get("messages", [])
               if m.get("level") in ("ERROR", "WARN")]
    link = {"Link": f'<{url}>; rel="related"'}
    if offerset.get("result") == Result.NO:
        lead = error("{field}: {reason}", field="request", reason=f"no site can run it now (OfferSet {url})")
        raise Problem(422, "No site can run this request now", [lead, *reasons], link)
    lead = error("{field}: {reason}", field="request", reason=f"none of the offers could be accepted (OfferSet {url})")
    raise Problem(409, "No offer could be accepted", [lead, *reasons], link)
