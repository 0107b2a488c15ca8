"""Judging a simple data resource: a URL the site would download. Rucio plays no part, so a data agent
without a Rucio catalogue (the embedded default) judges these alone."""

from __future__ import annotations

import httpx

from srcnet_eb.shared.contracts import DataItem, Locality

from . import staging
from .settings import RucioSettings


async def judge_url(http: httpx.AsyncClient, settings: RucioSettings, where: str, url: str) -> DataItem:
    """Its size (Content-Length) sets the download estimate; a URL that cannot be reached, or answers that
    the data is not there, is a NO naming it (an offer that could never fetch its data is no offer)."""
    size = None
    if url.startswith(("http://", "https://")):
        try:
            head = await http.head(url, follow_redirects=True)
        except httpx.HTTPError as exc:
            return DataItem(field=where, did=url, locality=Locality.NO,
                            reason=f"cannot be reached from this site ({type(exc).__name__}: {exc or 'no answer'})")
        if head.status_code in (404, 410):
            return DataItem(field=where, did=url, locality=Locality.NO,
                            reason=f"the URL answers {head.status_code}: no such data")
        try:
            size = int(head.headers["content-length"]) if head.status_code == 200 else None
        except (KeyError, ValueError):
            size = None  # reachable, but says nothing of its size (or refuses HEAD): estimate instead
    if size is None:
        return DataItem(field=where, did=url, locality=Locality.STAGE, eta=settings.unknown_size_eta, source=url,
                        target="local disk", reason="size unknown, estimate assumed")
    eta = settings.transfer_overhead + size / (settings.download_mbps * staging.MB)
    return DataItem(field=where, did=url, locality=Locality.STAGE, bytes=size, missing_bytes=size, eta=eta,
                    source=url, target="local disk", reason=f"download at {settings.download_mbps:g} MB/s")
