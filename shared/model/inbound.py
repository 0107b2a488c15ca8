"""Rewrite a request in any dialect into the internal form before validation.

Every dialect: kinds through the one alias table (`kinds.ALIASES`), the 2025 top-level `computer:`
read as `compute:`. The 2024 form besides: `type` instead of `kind`, `name`/`uuid`/... at the top of
each component instead of inside `meta`, and the resources grouped under `resources: {compute: [...],
storage: [...], data: [...], volumes: [...]}`. The dialect found is recorded on the request so that
the broker answers in it.
"""

from __future__ import annotations

from typing import Any

from . import kinds
from .dialect import detect

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


def _computer(doc: dict) -> None:
    """The 2025 form's `computer:` is `compute:` (a document with both keeps both, so validation names it)."""
    if "computer" in doc and "compute" not in doc:
        doc["compute"] = doc.pop("computer")


def _kinds_inside(compute: Any) -> Any:
    """Kinds of what a compute resource holds (accelerators, 2026-07 volume mounts) go through the table too."""
    if not isinstance(compute, dict):
        return compute
    for name in ("accelerators", "volumes"):
        items = compute.get(name)
        if isinstance(items, dict):  # a single element (XML)
            items = [items]
        if isinstance(items, list):
            compute[name] = [_component(item) if isinstance(item, dict) else item for item in items]
    return compute


def normalize_request(value: Any) -> Any:
    """Rewrite an ExecutionRequest document (any dialect) into the internal form, with its `dialect`."""
    if not isinstance(value, dict):
        return value
    dialect = detect(value)
    doc = _component(value)
    _computer(doc)
    resources = doc.pop("resources", None)
    if isinstance(resources, dict):
        resources = dict(resources)
        _computer(resources)
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
    if "compute" in doc:
        doc["compute"] = _kinds_inside(doc["compute"])
    for name in _LISTS:
        items = doc.get(name)
        if isinstance(items, dict):  # a single element (XML, hand-written YAML)
            items = [items]
        if isinstance(items, list):
            doc[name] = [_component(item) for item in items]
    doc["dialect"] = dialect.value
    return doc
