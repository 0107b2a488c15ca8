"""`GET /offersets/{uuid}/events` and `GET /sessions/{uuid}/events`: Server-Sent Events (sse-starlette).

Each event's data is one line of JSON; its `id` lets a client that reconnects (`Last-Event-ID`, or the query
`last_event_id` for clients that cannot set headers) get only what came after. The store is what is sent:
a wake-up (the planner's OfferSetCompleted, the gateway's SessionFeed) only makes a stream read it again,
and a stream reads it after it started listening, so it misses nothing. A stream ends after its last event,
when the client goes, and when the server shuts down (sse-starlette watches for uvicorn's exit)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

import mimeparse
from fastapi import APIRouter, Depends, Header, Query, Request
from nats.aio.msg import Msg
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared import jsontext
from srcnet_eb.shared.model import Dialect, OfferSetStatus, Phase, options_for, outbound
from srcnet_eb.shared.model.lifecycle import FINAL_PHASES
from srcnet_eb.shared.model.values import parse_instant
from srcnet_eb.shared.store.events import StoredEvent

from . import dialects
from .auth import Caller
from .openapi import answer
from .problems import ErrorResponse, Problem
from .state import Gateway, gateway

log = logging.getLogger(__name__)
router = APIRouter(tags=["events"])

EVENT_STREAM = "text/event-stream"
RECHECK = 5.0  # seconds: a COLLECTING OfferSet is read again this often should its completion notice be lost
_MAX_ID = 2**63 - 1

LastEventHeader = Annotated[int | None, Header(alias="Last-Event-ID", ge=0, le=_MAX_ID,
                                               description="The `id` of the last event received: only later ones are sent")]
LastEventQuery = Annotated[int | None, Query(ge=0, le=_MAX_ID,
                                             description="As the `Last-Event-ID` header (which it overrides), for "
                                                         "clients that cannot set headers")]


def _stream(description: str) -> dict[str, Any]:
    return {"description": description, "content": {EVENT_STREAM: {"schema": {"type": "string"}}}}


_ERRORS = {
    401: answer(ErrorResponse, "No valid bearer token (WWW-Authenticate says why)"),
    406: answer(ErrorResponse, "`Accept` allows no text/event-stream"),
    422: answer(ErrorResponse, "Not a UUID, or a `Last-Event-ID` / `last_event_id` that is not an event id"),
}


def _accepts_events(request: Request) -> None:
    accept = request.headers.get("accept")
    if not accept or not accept.strip():
        return
    try:
        fits = mimeparse.best_match([EVENT_STREAM], accept)
    except (ValueError, IndexError):
        fits = ""
    if not fits:
        raise Problem.field(406, "Not acceptable", "Accept", f"'{accept}' does not accept {EVENT_STREAM}")


def _respond(gw: Gateway, events: AsyncIterator[ServerSentEvent]) -> EventSourceResponse:
    return EventSourceResponse(events, ping=gw.settings.events_keepalive, sep="\n",
                               ping_message_factory=lambda: ServerSentEvent(comment="keep-alive", sep="\n"))


def _event(name: str, data: dict[str, Any], event_id: int) -> ServerSentEvent:
    return ServerSentEvent(jsontext.dumps_text(data), event=name, id=str(event_id), sep="\n")


@router.get(
    "/offersets/{uuid}/events",
    summary="Follow an OfferSet: its offers, then the OfferSet once COMPLETE (Server-Sent Events)",
    description="`event: offer` for each offer (data: the ExecutionSession as `GET /sessions/{uuid}` answers it in "
                "JSON) as its site answers, then `event: offerset` (data: the OfferSet as `GET /offersets/{uuid}` "
                "answers it, its `offers` the final list) once it is COMPLETE, after which the stream ends. Offers "
                "relayed while the OfferSet is COLLECTING have id 0 (not yet numbered: resuming from 0 sends every "
                "offer again); the others are numbered 1..n in the OfferSet's order and the OfferSet is n+1, so a "
                "client reconnecting with `Last-Event-ID` gets what follows (an offer twice at most, never none). "
                "`: keep-alive` comments keep an idle stream open. Dialect as for `GET /offersets/{uuid}`.",
    responses={200: _stream("The event stream"),
               404: answer(ErrorResponse, "No such OfferSet, or not the caller's (the same answer)"), **_ERRORS},
    response_class=EventSourceResponse,
)
async def offerset_events(uuid: UUID, request: Request, gw: Annotated[Gateway, Depends(gateway)], who: Caller,
                          last_event_id: LastEventQuery = None,
                          last_event: LastEventHeader = None) -> EventSourceResponse:
    _accepts_events(request)
    wanted = dialects.wanted(request)
    if (await gw.store.offersets.status(uuid, owned_by=who.owned_by) is None
            and gw.unrecorded.get(uuid, who.owned_by) is None):
        raise Problem.field(404, "No such OfferSet", "uuid", f"no OfferSet {uuid}")
    after = last_event_id if last_event_id is not None else last_event or 0
    return _respond(gw, _offerset_stream(gw, request, uuid, after, wanted))


async def _offerset_stream(gw: Gateway, request: Request, uuid: UUID, after: int,
                           wanted: Dialect | None) -> AsyncIterator[ServerSentEvent]:
    relayed: list[bytes] = []
    heard = asyncio.Event()

    async def answered(msg: Msg) -> None:
        relayed.append(msg.data)
        heard.set()

    sent: set[str] = set()  # offers relayed while COLLECTING, by uuid
    relay = await _listen(gw, uuid, answered) if after == 0 else None  # before reading: none is missed
    try:
        while True:
            with gw.waiters.watch(uuid) as completed:
                found = await gw.store.offersets.view(uuid) or gw.unrecorded.view(uuid, None)
                if found is None:
                    return
                doc, stored = found
                if doc["status"] == OfferSetStatus.COMPLETE:
                    break
                if not relayed:
                    await _first(completed.wait(), heard.wait(), timeout=RECHECK)
                heard.clear()
                while relayed:
                    for offer in _offers_in(relayed.pop(0), uuid):
                        if offer["meta"]["uuid"] not in sent:
                            sent.add(offer["meta"]["uuid"])
                            yield _event("offer", outbound.session(gw.session_with_url(request, offer),
                                                                   wanted or stored), 0)
    finally:
        if relay is not None:
            await relay.unsubscribe()
    dialect = wanted or stored
    gw.with_urls(request, doc)
    offers = doc["offers"]
    for number, offer in enumerate(offers, 1):
        if number > after and offer["meta"]["uuid"] not in sent:
            yield _event("offer", outbound.session(offer, dialect), number)
    if after <= len(offers):
        yield _event("offerset", outbound.offerset(doc, dialect), len(offers) + 1)


async def _listen(gw: Gateway, uuid: UUID, cb: Any) -> Any:
    """Relayed answers of the OfferSet; None if NATS is away (the offers then come when it is COMPLETE)."""
    try:
        return await gw.broker.connection.subscribe(c.answered_subject(uuid), cb=cb)
    except Exception:
        log.warning("offers of %s not relayed: no subscription", uuid, exc_info=True)
        return None


async def _first(*waits: Any, timeout: float) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _offers_in(data: bytes, offerset: UUID) -> list[dict[str, Any]]:
    """A relayed SiteAnswer's offers as session documents (what the OfferSet will hold; their URLs answer once
    it is COMPLETE). Anything unreadable is no offer: the OfferSet, read from the store, is the truth."""
    try:
        answer = c.SiteAnswer.model_validate_json(data)
    except ValidationError:
        return []
    if answer.offerset != offerset:
        return []
    docs = []
    for offer in answer.offers:
        if offer.meta.uuid is None:
            continue
        doc = offer.wire()
        doc["options"] = [option.wire() for option in options_for(offer.phase)]
        doc.setdefault("site", {"name": answer.site, "platform": answer.platform})
        docs.append(doc)
    return docs


@router.get(
    "/sessions/{uuid}/events",
    summary="Follow a session's phases (Server-Sent Events)",
    description="`event: phase` for each phase change, the current phase first: data `{phase, time, source, "
                "messages, session}` with the session as `GET /sessions/{uuid}` answers it in JSON. The `id` is the "
                "change's number in the broker (0: the offer, before any change); a client reconnecting with "
                "`Last-Event-ID` gets only later changes. The stream ends after a final phase (COMPLETED, FAILED, "
                "CANCELLED, REJECTED, EXPIRED). `: keep-alive` comments keep an idle stream open.",
    responses={200: _stream("The event stream"),
               404: answer(ErrorResponse, "No such session, or not the caller's (the same answer)"), **_ERRORS},
    response_class=EventSourceResponse,
)
async def session_events(uuid: UUID, request: Request, gw: Annotated[Gateway, Depends(gateway)], who: Caller,
                         last_event_id: LastEventQuery = None,
                         last_event: LastEventHeader = None) -> EventSourceResponse:
    _accepts_events(request)
    wanted = dialects.wanted(request)
    if await gw.store.sessions.view(uuid, owned_by=who.owned_by) is None:
        raise Problem.field(404, "No such session", "uuid", f"no session {uuid}")
    after = last_event_id if last_event_id is not None else last_event
    return _respond(gw, _session_stream(gw, request, uuid, after, wanted))


async def _session_stream(gw: Gateway, request: Request, uuid: UUID, after: int | None,
                          wanted: Dialect | None) -> AsyncIterator[ServerSentEvent]:
    async with gw.feed.watch(uuid) as moved:  # before reading: every change committed from now on wakes it
        if after is None:  # the current phase first
            latest = await gw.store.events.last_of_session(uuid)
            doc, stored = await gw.store.sessions.view(uuid)
            current = latest or _offered(doc)
            yield _phase(gw, request, current, doc, wanted or stored)
            if current.phase in FINAL_PHASES:
                return
            after = current.id
        while True:
            moved.clear()
            events = await gw.store.events.of_session(uuid, after)
            found = await gw.store.sessions.view(uuid)
            if found is None:
                return
            doc, stored = found
            for event in events:
                yield _phase(gw, request, event, doc, wanted or stored)
                after = event.id
                if event.phase in FINAL_PHASES:
                    return
            if not events and Phase(doc["phase"]) in FINAL_PHASES:  # resumed after its end: nothing more comes
                return
            await moved.wait()


def _offered(doc: dict[str, Any]) -> StoredEvent:
    """An offer has no change yet: its phase as event 0."""
    meta = doc["meta"]
    return StoredEvent(0, UUID(meta["uuid"]), Phase(doc["phase"]), parse_instant(meta.get("created") or meta["modified"]),
                       doc.get("site", {}).get("name", "broker"))


def _phase(gw: Gateway, request: Request, event: StoredEvent, doc: dict[str, Any], dialect: Dialect) -> ServerSentEvent:
    session = outbound.session(gw.session_with_url(request, dict(doc, meta=dict(doc["meta"]))), dialect)
    return _event("phase", {**event.wire(), "session": session}, event.id)
