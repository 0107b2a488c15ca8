"""The wire dialects of the ExecutionBroker data model, and which one a client's document is in.

- `2026-07`: kinds `https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/<group>/<name>.yaml`;
  `kind` + `meta`; session `connectors[]`; options in `meta.options`.
- `2025-11` (to 2026-05): kinds `https://www.purl.org/ivoa.net/EB/schema/v1.0/types/<group>/<name>-1.0`;
  `kind` + `meta`; `executable.access[]`. The broker's internal form.
- `2024`: `type` instead of `kind`, `uuid`/`name`/`href` at the top of each component, kinds without
  the `v1.0` segment, resources grouped under `resources:`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from . import kinds


class Dialect(StrEnum):
    V2026_07 = kinds.NEWEST
    V2025_11 = kinds.KIND_META
    V2024 = kinds.OLDER


DEFAULT = Dialect.V2025_11

# Other names a client may use for a dialect (e.g. the date of the schema copy it was written from).
_NAMES = {d.value: d for d in Dialect} | {"2026-05": Dialect.V2025_11, "newest": Dialect.V2026_07,
                                           "older": Dialect.V2024, "legacy": Dialect.V2024}
NAMES = tuple(_NAMES)

_COMPONENTS = ("executable", "compute", "computer")
_LISTS = ("storage", "data", "volumes")
_TOP_META = ("uuid", "name", "href")


def parse(value: str) -> Dialect | None:
    """A dialect by any of its names, None when it is none of them."""
    return _NAMES.get(value.strip().lower())


def detect(doc: Any) -> Dialect:
    """The dialect of a request document: the newest namespace anywhere wins, then any mark of the 2024
    form (`type`, grouped `resources`, top-level `uuid`/`name`, kinds without `v1.0`), else 2025-11."""
    if not isinstance(doc, dict):
        return DEFAULT
    found = [c for c in _components(doc) if isinstance(c, dict)]
    spellings = {kinds.dialect_of(k) for c in found for k in (c.get("kind"), c.get("type")) if isinstance(k, str)}
    if isinstance(doc.get("kind"), str):
        spellings.add(kinds.dialect_of(doc["kind"]))
    if kinds.NEWEST in spellings:
        return Dialect.V2026_07
    older = (kinds.OLDER in spellings or "resources" in doc or "type" in doc
             or any(key in doc for key in _TOP_META) or any("type" in c and "kind" not in c for c in found))
    return Dialect.V2024 if older else DEFAULT


def _components(doc: dict) -> list[Any]:
    out = [doc.get(name) for name in _COMPONENTS]
    groups = [doc, doc["resources"]] if isinstance(doc.get("resources"), dict) else [doc]
    for group in groups:
        for name in (*_LISTS, "compute", "computer") if group is not doc else _LISTS:
            items = group.get(name)
            out.extend(items if isinstance(items, list) else [items])
    return out
