"""`GET /offersets` and `GET /sessions`: the caller's OfferSets and sessions (an operator's: everyone's),
newest first, a page at a time; `next` (and the `Link` header) is the following page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from srcnet_eb.shared.model import OfferSetStatus, Phase, Result
from srcnet_eb.shared.model.values import parse_instant
from srcnet_eb.shared.store.listing import OfferSetFilter, Page, Position, SessionFilter

from . import cursor as cursors
from .auth import Caller, Principal
from .body import response_media
from .list_answers import OfferSetItem, OfferSetList, SessionItem, SessionList
from .openapi import answer
from .problems import ErrorResponse, Problem
from .respond import reply
from .state import Gateway, gateway

router = APIRouter()

INVALID = "The request is not valid"
_LINK = {"Link": {"description": "`<next>; rel=\"next\"` when there is a next page", "schema": {"type": "string"}}}


def _errors(what: str) -> dict:
    return {401: answer(ErrorResponse, "No valid bearer token"),
            403: answer(ErrorResponse, "`owner` names another caller, and the caller is not an operator"),
            406: answer(ErrorResponse, "No acceptable media type"),
            422: answer(ErrorResponse, f"A parameter is not valid (a bad `cursor` too): messages name it as "
                                       f"`query.<parameter>`; {what}")}


def _page(model: type, what: str) -> dict:
    return {200: {**answer(model, f"A page of {what}, newest first"), "headers": _LINK}}


Limit = Annotated[int, Query(ge=1, le=200, description="items per page")]
Since = Annotated[str | None, Query(description="ISO 8601 instant: created at or after it")]
Until = Annotated[str | None, Query(description="ISO 8601 instant: created before it")]
Cursor = Annotated[str | None, Query(max_length=512, description="opaque: from the previous page's `next`")]
Owner = Annotated[str | None, Query(max_length=256, description="operators: only this owner's (OIDC `sub`)")]
Site = Annotated[str | None, Query(max_length=64, description="only those with an offer from this site")]


def problem(parameter: str, reason: str) -> Problem:
    return Problem.field(422, INVALID, f"query.{parameter}", reason)


def _instant(parameter: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_instant(text.strip())
    except ValueError as exc:
        raise problem(parameter, str(exc)) from exc


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    start, end = _instant("since", since), _instant("until", until)
    if start is not None and end is not None and start >= end:
        raise problem("since", "must be before until")
    return start, end


def _owner(who: Principal, owner: str | None) -> str | None:
    """Whose rows: the caller's own; an operator's everyone's, or one owner's when it names one."""
    if owner is not None and owner != who.sub and not who.operator:
        raise Problem.field(403, "Only operators list another's", "query.owner",
                            "only the operator role may list another owner's")
    return owner if who.operator else who.sub


def _after(listing: str, cursor: str | None) -> Position | None:
    if cursor is None:
        return None
    try:
        return cursors.decode(listing, cursor)
    except ValueError as exc:
        raise problem("cursor", str(exc)) from exc


def _answer(request: Request, gw: Gateway, listing: str, document: OfferSetList | SessionList, page: Page) -> Response:
    headers = None
    if page.after is not None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query.append(("cursor", cursors.encode(listing, page.after)))
        document.next = f"{gw.base_url(request)}/{listing}?{urlencode(query)}"  # as reached: offerset_url too
        headers = {"Link": f'<{document.next}>; rel="next"'}
    return reply(request, document, document.kind, headers=headers)


@router.get(
    "/offersets",
    tags=["offersets"],
    summary="List the caller's OfferSets (operators: everyone's), newest first",
    description="Filters combine (all must hold). A page holds at most `limit` items; `next` (and the `Link` "
                "header) is the URL of the following page, absent on the last one. Items written meanwhile "
                "neither repeat nor shift a page.",
    responses={**_page(OfferSetList, "OfferSets"), **_errors("`since` must be before `until`")},
    response_class=Response,
)
async def list_offersets(
    request: Request,
    gw: Annotated[Gateway, Depends(gateway)],
    who: Caller,
    status: Annotated[OfferSetStatus | None, Query(description="COLLECTING or COMPLETE")] = None,
    result: Annotated[Result | None, Query(description="YES or NO")] = None,
    site: Site = None,
    since: Since = None,
    until: Until = None,
    owner: Owner = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    response_media(request)
    start, end = _window(since, until)
    where = OfferSetFilter(_owner(who, owner), status, result, site, start, end)
    page = await gw.store.lists.offersets(where, limit, _after("offersets", cursor))
    items = [OfferSetItem(uuid=r.uuid, name=r.name, status=r.status, result=r.result, created=r.created,
                          modified=r.modified, offers=r.offers, accepted=r.accepted,
                          url=gw.offerset_url(request, r.uuid)) for r in page.rows]
    return _answer(request, gw, "offersets", OfferSetList(items=items), page)


def _phases(given: list[str] | None) -> tuple[Phase, ...]:
    """`phase` repeated, or comma-separated, or both."""
    found: list[Phase] = []
    for part in (p.strip() for text in given or () for p in text.split(",")):
        try:
            found.append(Phase(part))
        except ValueError:
            raise problem("phase", f"'{part[:32]}' is not one of {', '.join(Phase)}") from None
    return tuple(dict.fromkeys(found))


@router.get(
    "/sessions",
    tags=["sessions"],
    summary="List the caller's sessions and offers (operators: everyone's), newest first",
    description="Filters combine (all must hold); `phase` may be repeated or comma-separated (any of them). "
                "Paged as `GET /offersets`.",
    responses={**_page(SessionList, "sessions"), **_errors("`phase` names no phase")},
    response_class=Response,
)
async def list_sessions(
    request: Request,
    gw: Annotated[Gateway, Depends(gateway)],
    who: Caller,
    phase: Annotated[list[str] | None, Query(description="a phase (OFFERED, RUNNING, ...): repeat it or "
                                                          "separate by commas for any of several")] = None,
    site: Annotated[str | None, Query(max_length=64, description="only this site's")] = None,
    offerset: Annotated[UUID | None, Query(description="only this OfferSet's")] = None,
    since: Since = None,
    until: Until = None,
    owner: Owner = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    response_media(request)
    start, end = _window(since, until)
    where = SessionFilter(_owner(who, owner), _phases(phase), site, str(offerset) if offerset else None, start, end)
    page = await gw.store.lists.sessions(where, limit, _after("sessions", cursor))
    items = [SessionItem(uuid=r.uuid, offerset=r.offerset, site=r.site, platform=r.platform, phase=r.phase,
                         expires=r.expires, start=r.start, created=r.created, modified=r.modified,
                         url=gw.session_url(request, r.uuid)) for r in page.rows]
    return _answer(request, gw, "sessions", SessionList(items=items), page)
