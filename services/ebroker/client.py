"""The client commands of `ebroker`, on the client library (srcnet_eb.client): ask, offers, direct,
accept, reject, cancel, release, watch, ls. Every one takes --url/--token (EB_URL/EB_TOKEN) and --json
(a JSON document, or one per line for streams, on stdout). An error is one line on stderr; the exit
code is 0 for YES/done, 1 for NO/failed, 2 for a usage or connection error."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.live import Live

from srcnet_eb.client import Broker, BrokerError
from srcnet_eb.shared.model import ExecutionSession, OfferSet, OfferSetStatus, Result

from . import view

Url = Annotated[str | None, typer.Option("--url", envvar="EB_URL", show_default=False,
                                         help="the broker's base URL [default: http://127.0.0.1:8080]")]
Token = Annotated[str | None, typer.Option("--token", envvar="EB_TOKEN", show_default=False,
                                           help="bearer token (an OIDC access token) [default: the embedded "
                                                "default's development token]")]
Json = Annotated[bool, typer.Option("--json", help="print JSON on stdout (one document per line for streams)")]
SessionRef = Annotated[str, typer.Argument(help="a session's URL or uuid")]
DONE, FAILED, USAGE = 0, 1, 2


def run(work: Callable[[Broker], Awaitable[int]], url: str | None, token: str | None) -> None:
    """Run `work` on a Broker and exit with its code; a BrokerError is one line on stderr."""
    async def main() -> int:
        async with Broker(url, token) as eb:
            return await work(eb)
    try:
        code = asyncio.run(main())
    except BrokerError as exc:  # no status: unreachable, or a bad argument (not a uuid, an unreadable file)
        code = _error(exc.line(), USAGE if exc.status is None else FAILED)
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)


def _error(line: str, code: int) -> int:
    typer.echo(f"ebroker: {line}", err=True)
    return code


def _json(doc: Any) -> None:
    typer.echo(json.dumps(doc, default=str))


def ask(request: Annotated[Path, typer.Argument(help="an ExecutionRequest: a YAML, JSON or XML file")],
        wait: Annotated[float, typer.Option(help="seconds to wait for every site's answer")] = 30.0,
        callback: Annotated[str | None, typer.Option(help="URL the broker POSTs each change to")] = None,
        url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """POST an ExecutionRequest and list the offers (a live view while sites answer). Exit 1 on NO."""
    async def work(eb: Broker) -> int:
        offerset = await eb.ask(request, callback=callback)
        if offerset.status != OfferSetStatus.COMPLETE:
            offerset = await _collect(eb, offerset, wait)
        return _show(offerset, as_json)
    run(work, url, token)


async def _collect(eb: Broker, offerset: OfferSet, wait: float) -> OfferSet:
    """Follow the OfferSet's events until it is COMPLETE (or `wait` passes), naming the sites that answered."""
    sites: dict[str, int] = {}
    name, since = offerset.meta.name or str(offerset.meta.uuid), time.monotonic()
    with Live(view.collecting(name, since, since, sites), console=view.status, transient=True,
              refresh_per_second=4) as live:
        async def follow() -> OfferSet | None:
            async with aclosing(eb.watch(offerset)) as events:
                async for event in events:
                    if event.kind == "offer" and event.session and event.session.site:
                        sites[event.session.site.name] = sites.get(event.session.site.name, 0) + 1
                    elif event.kind == "offerset":
                        return event.offerset
            return None

        async def tick() -> None:
            while True:
                live.update(view.collecting(name, since, time.monotonic(), sites))
                await asyncio.sleep(0.25)
        ticking = asyncio.create_task(tick())
        try:
            async with asyncio.timeout(wait):
                done = await follow()
        except TimeoutError:
            done = None
        finally:
            ticking.cancel()
    return done or await eb.offers(offerset)


def _show(offerset: OfferSet, as_json: bool) -> int:
    if as_json:
        _json(offerset.wire())
    else:
        for line in view.offerset_lines(offerset):
            typer.echo(line)
    if offerset.status != OfferSetStatus.COMPLETE:
        view.status.print("ebroker: still collecting; ask again with `ebroker offers URL`", markup=False)
    return DONE if offerset.result == Result.YES else FAILED


def offers(offerset: Annotated[str, typer.Argument(help="an OfferSet's URL or uuid")],
           wait: Annotated[float, typer.Option(help="seconds to wait for it to be COMPLETE")] = 0.0,
           url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Show an OfferSet and its offers. Exit 1 on NO."""
    async def work(eb: Broker) -> int:
        return _show(await eb.offers(offerset, wait=wait), as_json)
    run(work, url, token)


def direct(request: Annotated[Path, typer.Argument(help="an ExecutionRequest: a YAML, JSON or XML file")],
           url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """POST an ExecutionRequest to /direct: the best offer is accepted at once; prints the session's URL."""
    async def work(eb: Broker) -> int:
        found = await eb.direct(request)
        if isinstance(found, OfferSet):
            return _show(found, as_json)
        if as_json:
            _json(found.wire())
        else:
            typer.echo(f"{found.meta.url}: {found.phase} at {found.site.name if found.site else '?'}"
                       f"{view.footprint(found.wire())}")
        return DONE
    run(work, url, token)


def _session_answer(session: ExecutionSession, as_json: bool) -> int:
    if as_json:
        _json(session.wire())
    else:
        typer.echo(f"{session.meta.url}: {session.phase}")
    return DONE


def accept(session: SessionRef, url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Accept an offer (its siblings are rejected and their holds released)."""
    run(lambda eb: _then(eb.accept(session), as_json), url, token)


def cancel(session: SessionRef, url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Cancel a session (the platform's work is stopped)."""
    run(lambda eb: _then(eb.cancel(session), as_json), url, token)


async def _then(update: Awaitable[ExecutionSession], as_json: bool) -> int:
    return _session_answer(await update, as_json)


def reject(sessions: Annotated[list[str] | None, typer.Argument(help="offers' URLs or uuids", show_default=False)] = None,
           all_but: Annotated[str | None, typer.Option("--all-but", help="reject every open offer of yours but this one")] = None,
           url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Reject offers; with --all-but, every OFFERED session of yours except the one named."""
    if not sessions and not all_but:
        raise typer.BadParameter("name an offer, or --all-but OFFER", param_hint="SESSIONS")

    async def work(eb: Broker) -> int:
        for session in sessions or []:
            _session_answer(await eb.reject(session), as_json)
        if all_but:
            _released(await eb.release(keep=all_but), as_json)
        return DONE
    run(work, url, token)


def release(offerset: Annotated[str | None, typer.Option(help="only this OfferSet's offers (URL or uuid)")] = None,
            keep: Annotated[str | None, typer.Option(help="all but this offer (URL or uuid)")] = None,
            url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Reject every open (OFFERED) offer of yours at once, releasing what they hold at the sites."""
    run(lambda eb: _released_of(eb, offerset, keep, as_json), url, token)


async def _released_of(eb: Broker, offerset: str | None, keep: str | None, as_json: bool) -> int:
    return _released(await eb.release(offerset=offerset, keep=keep), as_json)


def _released(released, as_json: bool) -> int:
    if as_json:
        _json(released.model_dump(mode="json"))
    else:
        typer.echo(f"released {released.released} offer(s)")
        for uuid in released.sessions:
            typer.echo(f"  {uuid}")
    return DONE


def watch(ref: Annotated[str, typer.Argument(help="a session's (or an OfferSet's) URL or uuid")],
          url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """Follow a session's phases as they change, to its end (exit 0 COMPLETED, 1 otherwise); or an
    OfferSet's offers as sites answer (exit 0 YES, 1 NO)."""
    from .watching import follow
    run(lambda eb: follow(eb, ref, as_json), url, token)


def ls(what: Annotated[str, typer.Argument(help="offersets, sessions, or both")] = "all",
       phase: Annotated[list[str] | None, typer.Option(help="sessions in this phase (repeatable)")] = None,
       status: Annotated[str | None, typer.Option(help="OfferSets COLLECTING or COMPLETE")] = None,
       result: Annotated[str | None, typer.Option(help="OfferSets YES or NO")] = None,
       site: Annotated[str | None, typer.Option(help="only this site's")] = None,
       limit: Annotated[int, typer.Option(help="at most this many of each", min=1)] = 20,
       url: Url = None, token: Token = None, as_json: Json = False) -> None:
    """List your OfferSets and sessions, newest first."""
    if what not in ("all", "offersets", "sessions"):
        raise typer.BadParameter("offersets, sessions or all", param_hint="WHAT")

    async def work(eb: Broker) -> int:
        found: dict[str, list] = {}
        if what in ("all", "offersets"):
            found["offersets"] = await _first(eb.offersets(status=status, result=result, site=site,
                                                           limit=min(limit, 200)), limit)
        if what in ("all", "sessions"):
            found["sessions"] = await _first(eb.sessions(phase=phase, site=site, limit=min(limit, 200)), limit)
        if as_json:
            _json({k: [r.model_dump(mode="json") for r in v] for k, v in found.items()})
            return DONE
        if "offersets" in found:
            view.out.print(view.offersets_table(found["offersets"]))
        if "sessions" in found:
            view.out.print(view.sessions_table(found["sessions"]))
        return DONE
    run(work, url, token)


async def _first(rows, limit: int) -> list:
    found = []
    async for row in rows:
        found.append(row)
        if len(found) >= limit:
            break
    return found


def install(app: typer.Typer) -> None:
    for command in (ask, offers, direct, accept, reject, cancel, release, watch, ls):
        app.command()(command)

