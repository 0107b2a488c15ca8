"""How the CLI shows things: an OfferSet's offers, a session's phase changes, list rows, the live lines
shown while waiting (rich, on stderr, so stdout stays what a script reads)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from srcnet_eb.client import Event, OfferSetItem, SessionItem
from srcnet_eb.shared.model import ExecutionSession, OfferSet

status = Console(stderr=True, highlight=False)  # live views and errors
# What the command answers; piped, its tables are as wide as they need (no terminal to fit).
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 400)


def offerset_lines(offerset: OfferSet) -> list[str]:
    doc = offerset.wire()
    lines = [f"OfferSet {doc['meta'].get('url')}: {doc.get('result', doc['status'])}"]
    lines += [f"  {m['level']:5} {m['message']}" for m in doc["meta"].get("messages", [])]
    for i, offer in enumerate(doc.get("offers", []), 1):
        compute = offer.get("compute", {})
        start = (offer.get("schedule", {}).get("preparing") or {}).get("start", "?")
        lines.append(f"  [{i}] {offer.get('site', {}).get('name', '?'):8} from {start} "
                     f"{compute.get('cores', {}).get('min', '?')} cores {compute.get('memory', {}).get('min', '?')} GiB "
                     f"expires {offer.get('expires', '?')}{footprint(offer)}\n      {offer['meta'].get('url')}")
    return lines


def footprint(offer: dict) -> str:
    """` 0.46 kWh 115 gCO2e 0.08 EUR` from the offer's estimates (README, "Costs and energy")."""
    units = {"energy-kwh": "kWh", "carbon-gco2e": "gCO2e"}
    found = []
    for item in offer.get("costs", []):
        name = str(item.get("type", "")).rsplit(":", 1)[-1]
        unit = units.get(name) or (name.removeprefix("money-") if name.startswith("money-") else None)
        if unit and item.get("max") is not None:
            found.append(f"{item['max']:.3g} {unit}")
    return f" {' '.join(found)}" if found else ""


def phase_line(event: Event) -> str:
    when = event.data.get("time") or ""
    return f"{when}  {event.data.get('phase', '?'):10} {'; '.join(event.messages)}".rstrip()


def access_urls(session: ExecutionSession | None) -> list[str]:
    """Where a running session is reached (2025-11 `executable.access`; 2026-07 `connectors`)."""
    if session is None:
        return []
    doc = session.wire()
    urls = [u for a in (doc.get("executable") or {}).get("access", []) if a.get("status") == "ACTIVE"
            for u in a.get("locations", [])]
    return urls + [c["location"] for c in doc.get("connectors", []) if c.get("status") == "AVAILABLE" and c.get("location")]


def until(instant: datetime | None) -> str:
    if instant is None:
        return "?"
    left = int((instant - datetime.now(UTC)).total_seconds())
    if left <= 0:
        return "now"
    return f"{left // 3600}h {left % 3600 // 60:02d}m" if left >= 3600 else f"{left // 60}m {left % 60:02d}s"


def collecting(name: str, since: float, now: float, sites: dict[str, int]) -> Text:
    answered = ", ".join(f"{site} {n} offer(s)" for site, n in sorted(sites.items())) or "no site yet"
    return Text(f"⠿ collecting offers for {name!r}: {now - since:.0f} s; answered: {answered}")


def offersets_table(rows: list[OfferSetItem]) -> Table:
    table = Table("OfferSet", "name", "status", "result", "offers", "accepted session", "created", box=None,
                  pad_edge=False)
    for r in rows:
        table.add_row(r.url, r.name or "", r.status, r.result or "", str(r.offers), str(r.accepted or ""),
                      _instant(r.created))
    return table


def sessions_table(rows: list[SessionItem]) -> Table:
    table = Table("session", "site", "phase", "start", "expires", "created", box=None, pad_edge=False)
    for r in rows:
        table.add_row(r.url, r.site or "", r.phase, _instant(r.start), _instant(r.expires), _instant(r.created))
    return table


def _instant(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""
