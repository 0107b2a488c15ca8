"""Where is each requested data resource, relative to this site, and how long to bring it here?"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from srcnet_eb.shared.contracts import DataItem, Locality
from srcnet_eb.shared.model import (
    Message,
    RucioDataResource,
    S3DataResource,
    SimpleDataResource,
    SkaoDataResource,
    error,
    info,
    kinds,
    warn,
)
from srcnet_eb.shared.model.data import Data, Did

from . import staging
from .errors import CatalogUnavailable, DidNotFound
from .settings import Policy, RucioSettings
from .urls import judge_url

if TYPE_CHECKING:  # the rucio extra is imported only where a catalogue is made (service.py)
    from srcnet_eb.services.s3_data.site import S3Site

    from .catalog import RucioCatalog

_RANK = {Locality.LOCAL: 0, Locality.STAGE: 1, Locality.UNKNOWN: 2, Locality.NO: 3}


@dataclass
class Located:
    locality: Locality
    eta: float = 0.0
    items: list[DataItem] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


class Locator:
    def __init__(self, settings: RucioSettings, catalog: RucioCatalog | None, http: httpx.AsyncClient,
                 s3: S3Site | None = None) -> None:
        """Without a catalogue (no Rucio configured) only URLs and S3 data are judged; other kinds are said
        unknown. Without `s3` (no S3 endpoint configured) S3 data is said unknown."""
        self.settings = settings
        self.site = settings.site
        self.catalog = catalog
        self.http = http
        self.s3 = s3

    async def locate(self, data: list[Data]) -> Located:
        if self.catalog is None or all(isinstance(r, SimpleDataResource | S3DataResource) for r in data):
            items = await asyncio.gather(*(self._item(f"data[{i}]", r, []) for i, r in enumerate(data)))
            return self._verdict(list(items))
        try:
            rses = await self.catalog.site_rses()
        except CatalogUnavailable as exc:
            return Located(Locality.UNKNOWN, messages=[warn(
                "{site}: Rucio is unavailable ({reason}); data locality unknown", site=self.site, reason=exc.reason)])
        if not rses:
            return Located(Locality.UNKNOWN, messages=[warn(
                "{site}: no RSE matches {expression}; data locality unknown", site=self.site,
                expression=self.settings.site_rses)])
        items = await asyncio.gather(*(self._item(f"data[{i}]", r, rses) for i, r in enumerate(data)))
        return self._verdict(list(items))

    def _verdict(self, items: list[DataItem]) -> Located:
        worst = max((i.locality for i in items), key=_RANK.__getitem__, default=Locality.LOCAL)
        eta = max((i.eta for i in items), default=0.0)
        messages = [self._say(i) for i in items]
        if worst is Locality.STAGE and self.settings.policy is Policy.LOCAL_ONLY:
            messages.append(error("{site}: the data is not all here and this site runs local data only",
                                  site=self.site))
            return Located(Locality.NO, 0.0, items, messages)
        if worst is Locality.STAGE and eta > self.settings.max_eta:
            messages.append(error("{site}: staging would take {minutes} minutes, more than this site offers",
                                  site=self.site, minutes=round(eta / 60)))
            return Located(Locality.NO, eta, items, messages)
        if worst is Locality.LOCAL:
            messages.append(info("{site}: all {count} data item(s) are here: we can do this now",
                                 site=self.site, count=len(items)))
        elif worst is Locality.STAGE:
            messages.append(info("{site}: data staging takes about {minutes} minutes: we can do this then",
                                 site=self.site, minutes=max(1, round(eta / 60))))
        return Located(worst, eta if worst is Locality.STAGE else 0.0, items, messages)

    def _say(self, item: DataItem) -> Message:
        if item.locality is Locality.LOCAL:
            return info("{site}: {did} is at {rse}", site=self.site, did=item.did, rse=item.target)
        if item.locality is Locality.STAGE:
            return info("{site}: {did} needs {bytes} bytes staged from {source} to {target}, about {seconds}s "
                        "({reason})", site=self.site, did=item.did, bytes=item.missing_bytes, source=item.source,
                        target=item.target, seconds=round(item.eta), reason=item.reason)
        level = error if item.locality is Locality.NO else warn
        return level("{site}: {did}: {reason}", site=self.site, did=item.did, reason=item.reason)

    async def _item(self, where: str, resource: Data, rses: list[str]) -> DataItem:
        if isinstance(resource, SimpleDataResource):
            return await judge_url(self.http, self.settings, where, resource.location)
        if isinstance(resource, S3DataResource):
            if self.s3 is None:
                return DataItem(field=where, did=kinds.short(resource.kind), locality=Locality.UNKNOWN,
                                reason=f"{where}: this data agent has no S3 endpoint (EB_S3_ENDPOINT): it cannot "
                                       f"judge S3 data")
            return await self.s3.judge(where, resource)
        if self.catalog is None:
            return _cannot_judge(where, resource)
        if isinstance(resource, RucioDataResource):
            return await self._rucio(where, resource.did(), rses)
        if isinstance(resource, SkaoDataResource):
            return await self._rucio(where, resource.did(), rses)
        name = kinds.short(resource.kind)
        return DataItem(field=where, did=name, locality=Locality.STAGE, eta=self.settings.unknown_size_eta,
                        source="remote", target=rses[0], reason=f"{name}: size unknown, estimate assumed")

    async def _rucio(self, where: str, ref: Did, rses: list[str]) -> DataItem:
        scope, name, did = ref.scope, ref.name, str(ref)  # Rucio's API and the item's label take text
        try:
            found = await self.catalog.did(scope, name)
            if str(found.get("type", "FILE")).upper() != "FILE":
                whole = await self._whole_dataset_at(scope, name, rses)
                if whole is not None:
                    return DataItem(field=where, did=did, locality=Locality.LOCAL, bytes=found.get("bytes"),
                                    target=whole)
            files = await self.catalog.file_replicas(scope, name)
        except DidNotFound:
            return DataItem(field=where, did=did, locality=Locality.NO, reason="no such DID in Rucio")
        except CatalogUnavailable as exc:
            return DataItem(field=where, did=did, locality=Locality.UNKNOWN, reason=f"Rucio unavailable: {exc.reason}")
        if not files:
            return DataItem(field=where, did=did, locality=Locality.NO, reason="the DID holds no files")
        return await self._plan_transfers(where, did, files, rses)

    async def _whole_dataset_at(self, scope: str, name: str, rses: list[str]) -> str | None:
        """A site RSE holding every file of the dataset/container, by comparing available and total length."""
        for replica in await self.catalog.dataset_replicas(scope, name):
            if replica["rse"] in rses and replica.get("length") and replica.get("available_length") == replica["length"]:
                return replica["rse"]
        return None

    async def _plan_transfers(self, where: str, did: str, files: list[dict], rses: list[str]) -> DataItem:
        total = sum(int(f.get("bytes") or 0) for f in files)
        here = [f for f in files if set(_available(f)) & set(rses)]
        missing = [f for f in files if f not in here]
        holding = defaultdict(int)
        for f in here:
            for rse in set(_available(f)) & set(rses):
                holding[rse] += 1
        target = max(rses, key=lambda r: (holding[r], r == rses[0]))
        if not missing:
            return DataItem(field=where, did=did, locality=Locality.LOCAL, bytes=total, target=target)
        nowhere = [f for f in missing if not _available(f)]
        if nowhere:
            return DataItem(field=where, did=did, locality=Locality.NO, bytes=total,
                            reason=f"{len(nowhere)} of {len(files)} file(s) have no available replica anywhere "
                                   f"(e.g. {nowhere[0]['scope']}:{nowhere[0]['name']})")
        try:
            per_link = await self._links(missing, target)
        except CatalogUnavailable as exc:
            return DataItem(field=where, did=did, locality=Locality.UNKNOWN, reason=f"Rucio unavailable: {exc.reason}")
        s = self.settings
        worst = None
        for (source, nbytes, link) in per_link:
            guess = staging.estimate(nbytes, link, s.fallback_mbps, s.default_mbps, s.transfer_overhead)
            if worst is None or guess.seconds > worst[1].seconds:
                worst = (source, guess)
        source, guess = worst
        reason = (f"distance {guess.distance}, {guess.rate_source} rate {guess.rate / staging.MB:.0f} MB/s, "
                  f"{guess.queued_bytes} bytes queued ahead")
        return DataItem(field=where, did=did, locality=Locality.STAGE, bytes=total,
                        missing_bytes=sum(int(f.get("bytes") or 0) for f in missing), source=source, target=target,
                        eta=guess.seconds, reason=reason)

    async def _links(self, missing: list[dict], target: str) -> list[tuple[str, int, staging.LinkStats]]:
        """Group missing files by their nearest source; the stats of each link used."""
        sources = sorted({rse for f in missing for rse in _available(f)})
        distances = dict(zip(sources, await asyncio.gather(*(self.catalog.distance(s, target) for s in sources)),
                             strict=True))
        moved: dict[str, int] = defaultdict(int)
        for f in missing:
            nearest = min(_available(f), key=lambda rse: (distances[rse] is None, distances[rse] or 0, rse))
            moved[nearest] += int(f.get("bytes") or 0)
        stats = await asyncio.gather(*(self.catalog.link(src, target) for src in moved))
        out = []
        for (src, nbytes), link in zip(moved.items(), stats, strict=True):
            if link.distance is None:
                link = staging.LinkStats(distances[src], link.queued_bytes, link.done_bytes_1h, link.done_bytes_6h)
            out.append((src, nbytes, link))
        return out


def _cannot_judge(where: str, resource: Data) -> DataItem:
    name = kinds.short(resource.kind)
    return DataItem(field=where, did=name, locality=Locality.UNKNOWN,
                    reason=f"this data agent has no Rucio catalogue and judges only simple-data-resource URLs: "
                           f"it cannot judge {name}")


def _available(replica: dict) -> list[str]:
    """RSEs holding an AVAILABLE replica of a file entry from list_replicas."""
    states = replica.get("states") or {}
    return sorted(rse for rse in (replica.get("rses") or {}) if states.get(rse, "AVAILABLE") == "AVAILABLE")
