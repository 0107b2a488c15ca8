"""A client's side of one session, over the gateway's HTTP: ask for offers, accept one, follow it to its end."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from srcnet_eb.shared.model import kinds

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
FINAL = ("COMPLETED", "FAILED", "CANCELLED")


async def offerset(http: httpx.AsyncClient, doc: dict, path: str = "/offersets", wait: int = 20) -> dict:
    """The OfferSet for `doc`, once COMPLETE."""
    posted = await http.post(path, content=json.dumps(doc), headers=JSON)
    assert posted.status_code == 303, posted.text
    body = (await http.get(posted.headers["location"],
                           headers={"Accept": "application/json", "Prefer": f"wait={wait}"})).json()
    assert body["status"] == "COMPLETE", body
    return body


async def accept(http: httpx.AsyncClient, offer: dict) -> None:
    update = {"kind": kinds.ENUM_VALUE_UPDATE, "path": "phase", "value": "ACCEPTED"}
    accepted = await http.post(offer["meta"]["url"], content=json.dumps(update), headers=JSON)
    assert accepted.status_code == 200, accepted.text


async def followed(http: httpx.AsyncClient, offer: dict, patience: float = 60.0) -> dict:
    """The session once it ended (or as it stood after `patience` seconds: the caller asserts its phase)."""
    deadline = time.monotonic() + patience
    while True:
        found = (await http.get(offer["meta"]["url"], headers={"Accept": "application/json"})).json()
        if found["phase"] in FINAL or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def accepted_and_followed(http: httpx.AsyncClient, offer: dict, patience: float = 60.0) -> dict:
    await accept(http, offer)
    return await followed(http, offer, patience)
