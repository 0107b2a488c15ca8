"""Staging "rules" for S3 data: an id that says all a replica needs to follow (or resume) the copy --
the source, its size when staging began, and that the target is the site's staging bucket under a key
made from the source. So progress is a HEAD (or a listing) of the target, by whichever replica is asked,
and nothing about a copy lives only in the memory of the replica that began it."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from .objects import Found
from .resource import S3Location

PREFIX = "s3:"


@dataclass(frozen=True)
class Rule:
    source: S3Location
    bytes: int  # of the source when staging began: the target is complete at this size
    objects: int
    local: bool = False  # the data is at the site: nothing to copy, progress checks it is still there

    @property
    def id(self) -> str:
        doc = {"e": self.source.endpoint, "b": self.source.bucket, "k": self.source.key, "p": self.source.prefix,
               "v": self.source.virtual, "n": self.bytes, "c": self.objects, "l": self.local}
        text = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        return PREFIX + base64.urlsafe_b64encode(text).decode().rstrip("=")

    def target_key(self, source_key: str | None = None) -> str:
        """Where the copy of a source key goes in the staging bucket: <host[:port]>/<bucket>/<key>; without
        a key, the rule's own key (or prefix)."""
        key = self.source.key if source_key is None else source_key
        return f"{urlsplit(self.source.endpoint).netloc}/{self.source.bucket}/{key}"


def is_s3(rule_id: str) -> bool:
    return rule_id.startswith(PREFIX)


def parse(rule_id: str) -> Rule:
    """ValueError for an id that is not one of ours."""
    if not is_s3(rule_id):
        raise ValueError(f"not an S3 staging rule: {rule_id!r}")
    body = rule_id[len(PREFIX):]
    try:
        doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        source = S3Location(str(doc["e"]), str(doc["b"]), str(doc["k"]), bool(doc["p"]), bool(doc["v"]))
        return Rule(source, int(doc["n"]), int(doc["c"]), bool(doc["l"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not an S3 staging rule: {rule_id!r} ({exc})") from None


def as_found(location: S3Location, found: Found) -> S3Location:
    """An object key that proved a "directory" is staged as the prefix it is."""
    if location.prefix or found.objects == [(location.key, found.bytes)]:
        return location
    return S3Location(location.endpoint, location.bucket, location.key + "/", True, location.virtual)
