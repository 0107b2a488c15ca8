"""`Broker.watch`: the Server-Sent Events of an OfferSet or a session as `Event`s, reconnecting with
`Last-Event-ID` when the connection drops before the stream's end. A broker without the event
endpoints (404/405 on `/events` for a resource that exists) is watched by polling instead, with the
same events, so a script works against either."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

import httpx
from httpx_sse import SSEError, aconnect_sse

from srcnet_eb.shared.model import FINAL_PHASES, OfferSetStatus

from .errors import BrokerError, Unreachable, reason_of
from .items import Event

DIALECT = {"dialect": "2025-11"}  # the documents in the events in the form shared.model reads (broker.ACCEPT)
RETRIES = 5  # connection failures in a row before Unreachable; each wait doubles from 0.5 s
POLL_EVERY = 1.0  # seconds between looks at a session, when polling


def _last(event: Event) -> bool:
    """Does the stream end after this event?"""
    return event.kind == "offerset" or (event.kind == "phase" and event.data.get("phase") in FINAL_PHASES)


async def stream(http: httpx.AsyncClient, resource: str, get: Callable[[str, float], Awaitable[dict]],
                 last_event_id: str | None = None) -> AsyncIterator[Event]:
    """Events of `resource` (an OfferSet or session URL) until its last; `get(url, wait)` reads it
    (for the polling fallback)."""
    failures, last_id, connected, poll = 0, last_event_id, False, False
    while not poll:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            async with aconnect_sse(http, "GET", f"{resource}/events", headers=headers, params=DIALECT,
                                    timeout=httpx.Timeout(30, read=None)) as source:
                answer = source.response
                if answer.status_code in (404, 405):
                    poll = True  # no event streams here, or no such resource: polling tells which
                    continue
                if answer.status_code != 200:
                    await answer.aread()
                    raise BrokerError.of(answer)
                connected = True
                async with aclosing(source.aiter_sse()) as received:
                    async for sse in received:
                        failures = 0
                        if not sse.event or sse.event == "message":
                            continue
                        event = Event(sse.event, json.loads(sse.data) if sse.data else {}, sse.id or None)
                        last_id = event.id or last_id
                        yield event
                        if _last(event):
                            return
        except SSEError as exc:  # a 200 that is not an event stream (a proxy's page): not worth retrying
            raise BrokerError(200, "not an event stream", field="Content-Type", detail=str(exc)) from None
        except httpx.TransportError as exc:  # dropped: come back after what we saw
            if not connected:  # never reached: say so at once
                raise Unreachable(resource, reason_of(exc)) from None
        # Dropped, or ended before its last event (a gateway restarting): reconnect after a back-off.
        failures += 1
        if failures > RETRIES:
            raise Unreachable(resource, f"the event stream ended {RETRIES} times in a row before its last event")
        await asyncio.sleep(0.5 * 2 ** (failures - 1))
    async with aclosing(_poll(resource, get, last_id)) as polled:  # its first look raises the resource's 404
        async for event in polled:
            yield event


async def _poll(resource: str, get: Callable[[str, float], Awaitable[dict]],
                last_id: str | None) -> AsyncIterator[Event]:
    if "/offersets/" in resource:
        doc = await get(resource, 0)
        while doc.get("status") != OfferSetStatus.COMPLETE:
            doc = await get(resource, 25)
        for offer in doc.get("offers", []):
            yield Event("offer", offer, None)
        yield Event("offerset", doc, None)
        return
    # A session's events are its history entries, numbered: `poll-N` resumes after the N-th.
    seen = int(last_id[5:]) if last_id and last_id.startswith("poll-") and last_id[5:].isdigit() else 0
    said = seen > 0
    while True:
        doc = await get(resource, 0)
        history = doc.get("history", [])
        if not history and not said:  # an offer has no history yet: its phase is the first event
            said = True
            yield Event("phase", {"phase": doc.get("phase"), "time": doc.get("meta", {}).get("created"),
                                  "source": "poll", "messages": [], "session": doc}, None)
        for i, change in enumerate(history[seen:], seen + 1):
            yield Event("phase", {**change, "source": "poll", "session": doc}, f"poll-{i}")
        seen = len(history)
        if doc.get("phase") in FINAL_PHASES:
            return
        await asyncio.sleep(POLL_EVERY)
