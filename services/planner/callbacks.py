"""Callbacks: POST each change of an OfferSet to the URL its request named, from the outbox in the database.

Every planner runs a sender. Each round it asks the store for callbacks with something due, claims each
(a compare-and-set: one sender per callback at a time) and delivers in order: the OfferSet once COMPLETE,
then its sessions' phase changes. A delivery is confirmed in the database only after a 2xx, so a planner
killed meanwhile loses nothing: its claim lapses and another sends it again (at least once; `EB-Event-Id`
lets the receiver drop a repeat). A failure is retried with exponential back-off, up to `callback_attempts`."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx

from srcnet_eb.shared import callback_signature, jsontext
from srcnet_eb.shared.model import OfferSetStatus, outbound
from srcnet_eb.shared.settings import PlannerSettings
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.store.callbacks import Callback
from srcnet_eb.shared.store.documents import session_with_url, with_urls

log = logging.getLogger(__name__)


class CallbackSender:
    def __init__(self, store: Store, settings: PlannerSettings, name: str) -> None:
        self.store, self.settings, self.name = store, settings, name
        self.lease = timedelta(seconds=settings.callback_timeout * 3)  # one delivery, with room to record it
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task | None = None
        self._delivering: dict[UUID, asyncio.Task] = {}

    async def start(self) -> None:
        if self.settings.callback_secret is None:
            log.info("EB_CALLBACK_SECRET is not set: callbacks wait in the outbox for a planner that has it")
            return
        # No redirects: the host the gateway allowed is the only one reached.
        self._http = httpx.AsyncClient(timeout=self.settings.callback_timeout, follow_redirects=False)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        held = list(self._delivering)
        tasks = [t for t in (self._task, *self._delivering.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for offerset in held:  # what was cut short is sent again, by whichever planner claims it next
            try:
                await self.store.callbacks.unclaim(offerset, self.name)
            except Exception:  # the database is away: the claim lapses by itself
                log.warning("callback of %s: claim not given back", offerset, exc_info=True)
        if self._http is not None:
            await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:  # the database is away: next round
                log.warning("callback round failed", exc_info=True)
            await asyncio.sleep(self.settings.callback_poll)

    async def round(self) -> int:
        """Claim what is due and start delivering it; how many were claimed."""
        now = datetime.now(UTC)
        claimed = 0
        for offerset in await self.store.callbacks.due(now):
            if offerset in self._delivering:
                continue
            callback = await self.store.callbacks.claim(offerset, self.name, now, now + self.lease)
            if callback is None:  # another planner has it
                continue
            claimed += 1
            task = self._delivering[offerset] = asyncio.create_task(self._deliver(callback))
            task.add_done_callback(lambda _, key=offerset: self._delivering.pop(key, None))
        return claimed

    async def _deliver(self, callback: Callback) -> None:
        try:
            while True:
                found = await self._next(callback)
                if found is None:
                    await self.store.callbacks.release(callback.offerset, self.name)
                    return
                body, event_id, is_offerset = found
                reason = await self._post(callback.url, body, event_id)
                if reason is None:
                    until = datetime.now(UTC) + self.lease
                    if not await self.store.callbacks.delivered(callback.offerset, self.name, until,
                                                                offerset_sent=is_offerset,
                                                                event=None if is_offerset else int(event_id)):
                        return  # the claim lapsed and another sender took over
                    callback = await self.store.callbacks.get(callback.offerset)
                    continue
                await self._failed(callback, reason, event_id, is_offerset)
                return
        except Exception:
            log.warning("callback of %s: delivery stopped", callback.offerset, exc_info=True)

    async def _failed(self, callback: Callback, reason: str, event_id: str, is_offerset: bool) -> None:
        attempts = callback.attempts + 1
        give_up = attempts >= self.settings.callback_attempts
        wait = min(self.settings.callback_backoff * 2 ** (attempts - 1), self.settings.callback_backoff_max)
        if give_up:
            log.warning("callback of %s: event %s given up after %d attempts (%s)", callback.offerset, event_id,
                        attempts, reason)
        else:
            log.info("callback of %s: event %s failed (%s), attempt %d; next in %.1f s", callback.offerset,
                     event_id, reason, attempts, wait)
        await self.store.callbacks.failed(
            callback.offerset, self.name, 0 if give_up else attempts,
            datetime.now(UTC) + timedelta(seconds=0 if give_up else wait), reason,
            skip_event=int(event_id) if give_up and not is_offerset else None, skip_offerset=give_up and is_offerset)

    async def _post(self, url: str, body: bytes, event_id: str) -> str | None:
        """None once the receiver confirmed it (2xx); else why not."""
        assert self._http is not None and self.settings.callback_secret is not None
        secret = self.settings.callback_secret.get_secret_value().encode()
        headers = {"Content-Type": "application/json", callback_signature.EVENT_ID: event_id,
                   callback_signature.HEADER: callback_signature.sign(secret, body)}
        try:
            answer = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        return None if answer.is_success else f"HTTP {answer.status_code}"

    async def _next(self, callback: Callback) -> tuple[bytes, str, bool] | None:
        """The next delivery: (body, event id, whether it is the OfferSet), or None when none is due."""
        offerset = callback.offerset
        if not callback.sent_offerset:
            found = await self.store.offersets.view(offerset)
            if found is None or found[0]["status"] != OfferSetStatus.COMPLETE:
                return None
            doc, dialect = found
            with_urls(doc, callback.base_url)
            body = {"event": "offerset", "id": str(offerset), "offerset": str(offerset),
                    "time": doc["meta"]["modified"], "document": outbound.offerset(doc, dialect)}
            return jsontext.dumps(body), str(offerset), True
        events = await self.store.events.of_offerset(offerset, callback.after_event, limit=1)
        if not events:
            return None
        event = events[0]
        doc, dialect = await self.store.sessions.view(event.session)
        session_with_url(doc, callback.base_url)
        body = {"event": "phase", "id": str(event.id), "offerset": str(offerset), "session": str(event.session),
                **event.wire(), "document": outbound.session(doc, dialect)}
        return jsontext.dumps(body), str(event.id), False

