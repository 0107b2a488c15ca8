"""Accept the older wire form and rewrite it into the newest one before validation.

Older clients send `type` instead of `kind`, `name`/`uuid`/... at the top of each component
instead of inside `meta`, kind URIs without the `v1.0` segment, and the resources grouped
under `resources: {compute: [...], storage: [...], data: [...], volumes: [...]}`.
"""

from __future__ import annotations

from typing import Any

from . import kinds

_META_FIELDS = ("uuid", "name", "description", "url", "href", "created", "modified", "messages")
_LISTS = ("storage", "data", "volumes")


def _component(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    doc = dict(value)
    if "type" in doc and "kind" not in doc:
        doc["kind"] = doc.pop("type")
    if isinstance(doc.get("kind"), str):
        doc["kind"] = kinds.normalize(doc["kind"])
    moved = {key: doc.pop(key) for key in _META_FIELDS if key in doc}
    if moved:
        meta = dict(doc.get("meta") or {})
        if "href" in moved:
            moved.setdefault("url", moved.pop("href"))
        for key, item in moved.items():
            meta.setdefault(key, item)
        doc["meta"] = meta
    return doc


def normalize_request(value: Any) -> Any:
    """Rewrite an ExecutionRequest document (any form) into the newest form."""
    if not isinstance(value, dict):
        return value
    doc = _component(value)
    resources = doc.pop("resources", None)
    if isinstance(resources, dict):
        compute = resources.get("compute")
        if isinstance(compute, list):
            # The older form lists compute resources; one is all a session can have.
            compute = compute[0] if len(compute) == 1 else compute
        if compute is not None:
            doc.setdefault("compute", compute)
        for name in _LISTS:
            if name in resources:
                doc.setdefault(name, resources[name])
    elif resources is not None:
        doc["resources"] = resources  # let validation name it
    for name in ("executable", "compute"):
        if name in doc:
            doc[name] = _component(doc[name])
    for name in _LISTS:
        items = doc.get(name)
        if isinstance(items, dict):  # a single element (XML, hand-written YAML)
            items = [items]
        if isinstance(items, list):
            doc[name] = [_component(item) for item in items]
    return doc
