"""Staging S3 data for an accepted session: judge every object, then start its copy into the staging
bucket (rules.py: the id says where); progress is what the target holds, asked by any replica, which
resumes a copy nobody is making."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from srcnet_eb.shared.model import Message, S3DataResource, error, info

from .copier import Copier
from .endpoints import Endpoints
from .objects import Missing, Unreachable, find, size_at
from .resource import BadResource, locate
from .rules import Rule, as_found, parse
from .settings import S3Settings

_WORST_FIRST = ("STUCK", "UNKNOWN", "REPLICATING", "OK")


@dataclass
class Staged:
    rules: list[str] = field(default_factory=list)  # empty: nothing is staged (messages say why)
    messages: list[Message] = field(default_factory=list)


@dataclass
class Progress:
    state: str
    ok: int = 0
    total: int = 0
    bytes: int = 0  # copied into the staging bucket (local data counts 0)
    messages: list[Message] = field(default_factory=list)


class S3Staging:
    def __init__(self, site: str, settings: S3Settings, endpoints: Endpoints, copier: Copier) -> None:
        self.site, self.settings, self.endpoints, self.copier = site, settings, endpoints, copier
        self.bucket = settings.s3_staging_bucket

    async def stage(self, objects: list[S3DataResource]) -> Staged:
        """All or nothing: a copy starts only once every object is found."""
        rules, problems = [], []
        for i, resource in enumerate(objects):
            try:
                rules.append(await self._rule(resource, f"objects[{i}]"))
            except (BadResource, Missing, Unreachable) as exc:
                problems.append(error("{site}: cannot stage {what}: {reason}", site=self.site,
                                      what=_name(resource), reason=str(exc)))
        if problems:
            return Staged(messages=problems)
        if any(not r.local for r in rules):
            try:
                await asyncio.to_thread(self._staging_bucket)
            except Exception as exc:  # noqa: BLE001  (any failure of the site's own store)
                return Staged(messages=[error("{site}: the staging bucket {bucket} cannot be made: {reason}",
                                              site=self.site, bucket=self.bucket, reason=repr(exc))])
        messages = []
        for rule in rules:
            if rule.local:
                messages.append(info("{site}: {source} is here", site=self.site, source=str(rule.source)))
                continue
            if not await self._complete(rule):  # a copy made for an earlier session serves this one
                self.copier.start(rule)
            messages.append(info("{site}: copying {source} ({bytes} bytes) into {target}", site=self.site,
                                 source=str(rule.source), bytes=rule.bytes,
                                 target=f"{self.endpoints.own.url}/{self.bucket}/{rule.target_key()}"))
        return Staged([r.id for r in rules], messages)

    async def _rule(self, resource: S3DataResource, where: str) -> Rule:
        location = locate(resource, where)
        endpoint = self.endpoints.of(location)
        if endpoint is None:
            raise Unreachable(f"{location.endpoint} is not an S3 endpoint this site copies from")
        found = await asyncio.to_thread(find, self.endpoints.client(endpoint, location.virtual), location)
        location = as_found(location, found)
        return Rule(location, found.bytes, len(found.objects), local=self.endpoints.is_local(location))

    async def _complete_or_raise(self, rule: Rule) -> bool:
        """The rule's copy is all in the staging bucket."""
        count, nbytes = await asyncio.to_thread(size_at, self.endpoints.client(self.endpoints.own), self.bucket,
                                                rule.target_key(), rule.source.prefix)
        return count >= rule.objects and nbytes >= rule.bytes

    async def _complete(self, rule: Rule) -> bool:
        try:
            return await self._complete_or_raise(rule)
        except Exception:  # noqa: BLE001  (not known to be complete: copy, which skips what is there)
            return False

    def _staging_bucket(self) -> None:
        client = self.endpoints.client(self.endpoints.own)
        try:
            client.head_bucket(Bucket=self.bucket)
        except client.exceptions.ClientError:
            client.create_bucket(Bucket=self.bucket)

    async def progress(self, rule_ids: list[str]) -> Progress:
        found = await asyncio.gather(*(self._one(r) for r in rule_ids))
        states = {state for state, _, _ in found}
        state = next(s for s in _WORST_FIRST if s in states) if states else "OK"
        messages = [m for _, _, m in found if m is not None]
        return Progress(state, ok=sum(s == "OK" for s, _, _ in found), total=len(found),
                        bytes=sum(b for _, b, _ in found), messages=messages)

    async def _one(self, rule_id: str) -> tuple[str, int, Message | None]:
        """(state, bytes staged, why) of one rule."""
        try:
            rule = parse(rule_id)
        except ValueError as exc:
            return "UNKNOWN", 0, error("{site}: {reason}", site=self.site, reason=str(exc))
        if rule.id in self.copier.failed:
            return "STUCK", 0, error("{site}: copying {source} failed: {reason}", site=self.site,
                                     source=str(rule.source), reason=self.copier.failed[rule.id])
        try:
            if rule.local:  # still there?
                endpoint = self.endpoints.of(rule.source)
                if endpoint is None:
                    raise Unreachable(f"{rule.source.endpoint} is no longer this site's")
                await asyncio.to_thread(find, self.endpoints.client(endpoint, rule.source.virtual), rule.source)
                return "OK", 0, None
            complete = await self._complete_or_raise(rule)
        except Missing as exc:
            return "STUCK", 0, error("{site}: {source} is gone: {reason}", site=self.site, source=str(rule.source),
                                     reason=str(exc))
        except Exception as exc:  # noqa: BLE001  (the site's store unreachable: progress unknown, not failed)
            return "UNKNOWN", 0, error("{site}: staging progress of {source} unknown: {reason}", site=self.site,
                                       source=str(rule.source), reason=repr(exc))
        if complete:
            return "OK", rule.bytes, None
        if not self.copier.copying(rule):
            self.copier.start(rule)  # begun by a replica gone since, or before a restart: resume it here
        return "REPLICATING", 0, None


def _name(resource: S3DataResource) -> str:
    return f"{resource.endpoint or resource.template}/{resource.bucket}/{resource.object or ''}"
