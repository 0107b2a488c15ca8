"""A small client for the worked example: ask for offers, accept/reject/cancel, watch the phases."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from srcnet_eb.shared.settings import DEV_TOKEN

FINAL = {"REJECTED", "EXPIRED", "COMPLETED", "FAILED", "CANCELLED"}
JSON = "application/json"
Url = Annotated[str, typer.Option("--url", help="the broker's base URL")]
Token = Annotated[str, typer.Option("--token", envvar="EB_TOKEN", show_default=False,
                                    help="bearer token (an OIDC access token); default: the embedded default's "
                                         "development token")]


def _headers(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": JSON, **more}


def _fail(answer: httpx.Response) -> None:
    try:
        reasons = "; ".join(m["message"] for m in answer.json().get("messages", []))
    except ValueError:
        reasons = answer.text
    typer.echo(f"{answer.status_code}: {reasons}", err=True)
    raise typer.Exit(1)


def ask(request: Path, url: Url = "http://127.0.0.1:8080",
        wait: Annotated[float, typer.Option(help="seconds to wait for the OfferSet")] = 10.0,
        token: Token = DEV_TOKEN) -> None:
    """POST an ExecutionRequest (YAML/JSON/XML file) and list the offers."""
    kind = {".json": JSON, ".xml": "application/xml"}.get(request.suffix, "application/yaml")
    posted = httpx.post(f"{url}/offersets", content=request.read_bytes(), headers=_headers(token, **{"Content-Type": kind}))
    if posted.status_code != 303:
        _fail(posted)
    got = httpx.get(posted.headers["location"], headers=_headers(token, Prefer=f"wait={wait:g}"), timeout=wait + 5)
    if got.status_code != 200:
        _fail(got)
    offerset = got.json()
    typer.echo(f"OfferSet {offerset['meta']['url']}: {offerset.get('result', offerset['status'])}")
    for message in offerset["meta"].get("messages", []):
        typer.echo(f"  {message['level']:5} {message['message']}")
    for i, offer in enumerate(offerset["offers"], 1):
        compute = offer.get("compute", {})
        typer.echo(f"  [{i}] {offer['site']['name']:8} from {offer['schedule']['preparing']['start']} "
                   f"{compute.get('cores', {}).get('min', '?')} cores {compute.get('memory', {}).get('min', '?')} GiB "
                   f"expires {offer['expires']}{_footprint(offer)}\n      {offer['meta']['url']}")


def _footprint(offer: dict) -> str:
    """` 0.46 kWh 115 gCO2e 0.08 EUR` from the offer's estimates (README, "Costs and energy")."""
    units = {"energy-kwh": "kWh", "carbon-gco2e": "gCO2e"}
    out = []
    for item in offer.get("costs", []):
        name = str(item.get("type", "")).rsplit(":", 1)[-1]
        unit = units.get(name) or (name.removeprefix("money-") if name.startswith("money-") else None)
        if unit and item.get("max") is not None:
            out.append(f"{item['max']:.3g} {unit}")
    return f" {' '.join(out)}" if out else ""


def direct(request: Path, url: Url = "http://127.0.0.1:8080", token: Token = DEV_TOKEN) -> None:
    """POST an ExecutionRequest to /direct: the best offer is accepted at once; prints the session's URL."""
    kind = {".json": JSON, ".xml": "application/xml"}.get(request.suffix, "application/yaml")
    posted = httpx.post(f"{url}/direct", content=request.read_bytes(), headers=_headers(token, **{"Content-Type": kind}),
                        timeout=60)
    if posted.status_code == 202:
        typer.echo(f"still planning; the OfferSet: {posted.headers['location']}")
        return
    if posted.status_code != 303:
        _fail(posted)
    session = posted.json()
    typer.echo(f"{posted.headers['location']}: {session['phase']} at {session['site']['name']}{_footprint(session)}")


def _update(session: str, value: str, token: str) -> None:
    body = {"kind": "uri:enum-value-update", "path": "phase", "value": value}
    answer = httpx.post(session, json=body, headers=_headers(token))
    if answer.status_code != 200:
        _fail(answer)
    typer.echo(f"{session}: {answer.json()['phase']}")


def accept(session: str, token: Token = DEV_TOKEN) -> None:
    """Accept an offer (its siblings are rejected)."""
    _update(session, "ACCEPTED", token)


def reject(session: str, token: Token = DEV_TOKEN) -> None:
    """Reject an offer."""
    _update(session, "REJECTED", token)


def cancel(session: str, token: Token = DEV_TOKEN) -> None:
    """Cancel a session (the platform's work is stopped)."""
    _update(session, "CANCELLED", token)


def watch(session: str, every: Annotated[float, typer.Option(help="seconds between looks")] = 1.0,
          token: Token = DEV_TOKEN) -> None:
    """Print each phase change of a session until it ends."""
    seen = 0
    while True:
        answer = httpx.get(session, headers=_headers(token))
        if answer.status_code != 200:
            _fail(answer)
        found = answer.json()
        for change in found.get("history", [])[seen:]:
            words = "; ".join(m["message"] for m in change.get("messages", []))
            typer.echo(f"{change['time']}  {change['phase']:10} {words}")
        seen = len(found.get("history", []))
        if seen and found["phase"] == "RUNNING":
            urls = [a for a in found.get("executable", {}).get("access", []) if a.get("status") == "ACTIVE"]
            urls = [u for a in urls for u in a.get("locations", [])]  # 2025-11 form; 2026-07: connectors
            urls += [c["location"] for c in found.get("connectors", []) if c.get("status") == "AVAILABLE"]
            if urls:
                typer.echo(f"  connect: {', '.join(urls)}")
        if found["phase"] in FINAL:
            return
        time.sleep(every)


def install(app: typer.Typer) -> None:
    for command in (ask, direct, accept, reject, cancel, watch):
        app.command()(command)
