"""`POST /requests` (2026-07), `POST /offersets` (its older name, kept) and `GET /offersets/{uuid}`."""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response

from srcnet_eb.shared.model import ExecutionRequest, OfferSet, OfferSetStatus
from srcnet_eb.shared.store.documents import offerset_document

from . import callback_param, dialects, plans, respond
from .auth import Caller
from .body import parse_request, response_media
from .openapi import answer, body
from .prefer import wait_seconds
from .problems import ErrorResponse, Problem
from .state import Gateway, gateway

router = APIRouter(tags=["offersets"])

_ERRORS = {
    400: answer(ErrorResponse, "An unknown `dialect` query parameter"),
    401: answer(ErrorResponse, "No valid bearer token (WWW-Authenticate says why)"),
    404: answer(ErrorResponse, "No such OfferSet, or not the caller's (the same answer: uuids cannot be probed)"),
    406: answer(ErrorResponse, "No acceptable media type"),
    422: answer(ErrorResponse, "Invalid request; messages name each field"),
    503: answer(ErrorResponse, "No planner available"),
}
# Only where there is a body to read (GET has none: documenting these there would be false).
_BODY_ERRORS = {
    413: answer(ErrorResponse, "Body too large"),
    415: answer(ErrorResponse, "Unsupported Content-Type"),
}


_DIALECTS = ("Answered in the dialect the request is written in (2026-07, 2025-11 or 2024), or the one asked "
             "for with `Accept: ...; dialect=2026-07` or `?dialect=2026-07`.")
_POST = dict(
    status_code=303,
    description="Post an ExecutionRequest (YAML when no Content-Type). Answers 303 See Other to the OfferSet, "
    f"with the OfferSet as it stands (status COLLECTING) in the body. {_DIALECTS}",
    openapi_extra=body(ExecutionRequest, "The ExecutionRequest, in any of the three dialects"),
    responses={303: answer(OfferSet, "See Other: the new OfferSet, Location header points to it"),
               400: answer(ErrorResponse, "Malformed body, or an unknown `dialect` query parameter"),
               **{k: v for k, v in _ERRORS.items() if k != 400}, **_BODY_ERRORS},
)


@router.post("/requests", summary="Ask for offers (2026-07 name)", **_POST)
@router.post("/offersets", summary="Ask for offers (older name of POST /requests)", **_POST)
async def post_offerset(request: Request, gw: Annotated[Gateway, Depends(gateway)], who: Caller,
                        callback: callback_param.CallbackQuery = None) -> Response:
    response_media(request)  # refuse an unacceptable Accept (or dialect) before doing any work
    dialects.wanted(request)
    target = callback_param.target(gw, request, callback)
    execution = await parse_request(request, ExecutionRequest, gw.settings.max_body_bytes)
    offerset_id = uuidlib.uuid4()
    created = await plans.submit(gw, offerset_id, execution, owner=who.sub, callback=target)
    offerset = offerset_document(offerset_id, execution.meta.name, created, created, OfferSetStatus.COLLECTING)
    location = gw.offerset_url(request, offerset_id)
    return respond.offerset(request, gw.with_urls(request, offerset), execution.dialect, 303, {"Location": location})


@router.get(
    "/offersets/{uuid}",
    summary="Read an OfferSet",
    description="`Prefer: wait=N` (RFC 7240) holds the answer until the OfferSet is COMPLETE or N seconds pass.",
    responses={200: answer(OfferSet, "The OfferSet"), **_ERRORS},
    response_class=Response,
)
async def get_offerset(
    uuid: UUID,
    request: Request,
    gw: Annotated[Gateway, Depends(gateway)],
    who: Caller,
    prefer: Annotated[str | None, Header(description="RFC 7240, e.g. `wait=10`")] = None,
) -> Response:
    response_media(request)
    dialects.wanted(request)
    wait = wait_seconds(prefer, gw.settings.max_wait)
    with gw.waiters.watch(uuid) as completed:
        # Waiting: only the status until it is COMPLETE (or the wait is over), then the document once.
        if wait > 0 and await _status(gw, uuid, who.owned_by) is OfferSetStatus.COLLECTING:
            try:
                await asyncio.wait_for(completed.wait(), wait)
            except TimeoutError:
                pass
        found = await gw.store.offersets.view(uuid, owned_by=who.owned_by) or gw.unrecorded.view(uuid, who.owned_by)
    if found is None:
        raise Problem.field(404, "No such OfferSet", "uuid", f"no OfferSet {uuid}")
    offerset, dialect = found
    headers = {"Preference-Applied": f"wait={wait:g}"} if wait > 0 else None
    return respond.offerset(request, gw.with_urls(request, offerset), dialect, headers=headers)


async def _status(gw: Gateway, uuid: UUID, owned_by: str | None) -> OfferSetStatus | None:
    status = await gw.store.offersets.status(uuid, owned_by=owned_by)
    if status is None and gw.unrecorded.get(uuid, owned_by) is not None:
        return OfferSetStatus.COLLECTING
    return status

