"""`ebroker watch`: a session's phase changes as they happen, each once, with a live line below them
saying where it stands (an offer's time left before it expires; how long it has been RUNNING); or an
OfferSet's offers as its sites answer."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from contextlib import aclosing

import typer
from rich.live import Live
from rich.text import Text

from srcnet_eb.client import Broker, BrokerError, Event
from srcnet_eb.shared.model import ExecutionSession, Phase, Result
from srcnet_eb.shared.model.lifecycle import FINAL_PHASES

from . import view


async def follow(eb: Broker, ref: str, as_json: bool) -> int:
    state = _State()
    if not as_json:  # a session's history so far first: a stream starts at the current phase
        for line in await state.history(eb, ref):
            typer.echo(line)
    with Live(Text(""), console=view.status, transient=True, refresh_per_second=2) as live:
        # On a terminal the lines go through the live view's console, above its status line: written
        # to stdout beside it they were garbled. Piped, stdout has them alone.
        say = ((lambda line: live.console.print(line, markup=False, highlight=False, soft_wrap=True))
               if sys.stdout.isatty() else typer.echo)

        async def tick() -> None:
            while True:
                live.update(state.line())
                await asyncio.sleep(0.5)
        ticking = asyncio.create_task(tick())
        try:
            async with aclosing(eb.watch(ref)) as events:
                async for event in events:
                    if as_json:
                        say(json.dumps({"event": event.kind, "id": event.id, "data": event.data}))
                    else:
                        for line in state.lines(event):
                            say(line)
                    code = state.code(event)
                    if code is not None:
                        return code
        finally:
            ticking.cancel()
    return 1  # the stream ended before a final phase


class _State:
    """What has been said, so that nothing is said twice."""

    def __init__(self) -> None:
        self.seen: set[tuple] = set()
        self.urls: set[str] = set()
        self.session: ExecutionSession | None = None
        self.phase: Phase | None = None
        self.since = time.monotonic()
        self.offers = 0

    async def history(self, eb: Broker, ref: str) -> list[str]:
        if "/offersets/" in ref:
            return []
        try:
            session = await eb.session(ref)
        except BrokerError as exc:
            if exc.status == 404 and "/sessions/" not in ref:  # a bare uuid: an OfferSet's
                return []
            raise
        doc = session.wire()
        return [line for change in doc.get("history", [])
                for line in self.lines(Event("phase", {**change, "session": doc}))]

    def lines(self, event: Event) -> list[str]:
        if event.kind == "offer":
            self.offers += 1
            site = event.session.site.name if event.session and event.session.site else "?"
            return [f"offer from {site}: {event.data.get('meta', {}).get('url')}"]
        if event.kind == "offerset":
            return view.offerset_lines(event.offerset)
        key = (event.time, event.data.get("phase"), tuple(event.messages))  # parsed: any spelling of an instant
        if key in self.seen:  # a repeat after a reconnection
            return []
        self.seen.add(key)
        out = [view.phase_line(event)]
        self.session = event.session or self.session
        if event.phase != self.phase:
            self.phase, self.since = event.phase, time.monotonic()
        expires = self.session.expires if self.session else None
        current = self.session is not None and event.phase == self.session.phase  # not a replayed old change
        if current and event.phase == Phase.OFFERED and expires:
            out.append(f"  an offer: accept it before {expires:%Y-%m-%dT%H:%M:%SZ} (in {view.until(expires)}), "
                       f"or it expires")
        if event.phase == Phase.EXPIRED:
            out.append("  the offer expired: it was not accepted in time" +
                       (f" (by {expires:%Y-%m-%dT%H:%M:%SZ})" if expires else ""))
        for url in view.access_urls(event.session) if current else ():
            if url not in self.urls:
                self.urls.add(url)
                out.append(f"  connect: {url}")
        return out

    def code(self, event: Event) -> int | None:
        if event.kind == "offerset":
            return 0 if event.offerset and event.offerset.result == Result.YES else 1
        if event.kind == "phase" and event.phase in FINAL_PHASES:
            return 0 if event.phase == Phase.COMPLETED else 1
        return None

    def line(self) -> Text:
        if self.phase is None:
            return Text(f"waiting for events… ({self.offers} offer(s) so far)" if self.offers else "waiting for events…")
        held = int(time.monotonic() - self.since)
        if self.phase == Phase.OFFERED and self.session and self.session.expires:
            return Text(f"OFFERED: expires in {view.until(self.session.expires)}")
        return Text(f"{self.phase} for {held // 60}m {held % 60:02d}s")
