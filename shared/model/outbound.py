"""Write an OfferSet or session document (internal form) in the dialect its client speaks.

The internal form is the 2025-11 one plus the newest fields (session `connectors[]`). Each dialect
differs from it only in spelling and placement, so rendering is a walk over plain data.
"""

from __future__ import annotations

from typing import Any

from . import kinds
from .dialect import Dialect

# 2026-07 has no READY (renamed AVAILABLE) and calls the state before an offer INITIAL.
_PHASES_2026_07 = {"READY": "AVAILABLE", "PROPOSED": "INITIAL"}
# The 2025-11 form's access status for a 2026-07 connector status.
_ACCESS_STATUS = {"AVAILABLE": "ACTIVE"}
_LIFTED = ("uuid", "name", "description", "created", "modified", "messages")


def offerset(doc: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """An OfferSet document, offers included, in `dialect` (the input is not changed)."""
    out = {key: value for key, value in doc.items() if key != "offers"}
    if "offers" in doc:
        out["offers"] = [_session(offer, dialect) for offer in doc["offers"]]
    return _component(out, dialect)


def session(doc: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """A session document in `dialect` (the input is not changed)."""
    return _component(_session(doc, dialect), dialect)


def request(doc: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """An ExecutionRequest document (internal form) in `dialect`, empty lists and blocks left out: what a
    broker forwarding a request to another broker sends. Mounts go where the dialect keeps them (2026-07:
    `compute.volumes`; older forms: the top-level list)."""
    out = _pruned(doc)
    compute = out.get("compute") if isinstance(out.get("compute"), dict) else None
    if compute is not None and dialect is Dialect.V2026_07 and out.get("volumes"):
        out["compute"] = compute = {**compute, "volumes": [*compute.get("volumes", []), *out.pop("volumes")]}
    elif compute is not None and dialect is not Dialect.V2026_07 and compute.get("volumes"):
        out["volumes"] = [*out.get("volumes", []), *compute["volumes"]]
        out["compute"] = {key: item for key, item in compute.items() if key != "volumes"}
    if dialect is Dialect.V2026_07 and isinstance(out.get("storage"), list):
        out["storage"] = [_storage_2026_07(item) for item in out["storage"]]
    return _component(out, dialect)


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {key: _pruned(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ([], {}, None)}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value


def _session(doc: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    out = dict(doc)
    if dialect is Dialect.V2026_07:
        if "phase" in out:
            out["phase"] = _PHASES_2026_07.get(out["phase"], out["phase"])
        if "options" in out:  # 2026-07 keeps a component's options in its metadata
            out["meta"] = {**out.get("meta", {}), "options": out.pop("options")}
        if isinstance(out.get("executable"), dict) and "access" in out["executable"]:
            out["executable"] = {k: v for k, v in out["executable"].items() if k != "access"}  # now `connectors`
        if isinstance(out.get("storage"), list):
            out["storage"] = [_storage_2026_07(item) for item in out["storage"]]
        return out
    connectors = out.pop("connectors", None)
    if connectors and isinstance(out.get("executable"), dict):
        out["executable"] = {**out["executable"], "access": [_access(c) for c in connectors]}
    if dialect is Dialect.V2024 and "phase" in out:
        out["state"] = out["phase"]  # the 2024 schema requires `state`; its clients read either
    return out


def _storage_2026_07(storage: Any) -> Any:
    """The 2026-07 schema names a storage resource's data resources `data` (ours: `resources`)."""
    if not isinstance(storage, dict) or "resources" not in storage or "data" in storage:
        return storage
    return {("data" if key == "resources" else key): item for key, item in storage.items()}


def _access(connector: dict[str, Any]) -> dict[str, Any]:
    access = {"status": _ACCESS_STATUS.get(connector.get("status"), connector.get("status")),
              "protocol": connector.get("protocol"), "locations": [connector["location"]] if connector.get("location") else []}
    return {key: value for key, value in access.items() if value is not None}


def _component(value: Any, dialect: Dialect) -> Any:
    """Respell kinds everywhere; 2026-07 messages say `kind`; the 2024 form says `type` and keeps meta on top."""
    if dialect is Dialect.V2025_11:
        return value
    if isinstance(value, list):
        return [_component(item, dialect) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _component(item, dialect) for key, item in value.items()}
    if isinstance(out.get("kind"), str):
        spelled = kinds.spell(out["kind"], dialect)
        if dialect is Dialect.V2024:
            out = {("type" if key == "kind" else key): (spelled if key == "kind" else item) for key, item in out.items()}
        else:
            out["kind"] = spelled
    meta = out.get("meta")
    if isinstance(meta, dict):
        if dialect is Dialect.V2024:
            out = _lift(out, meta)
        elif meta.get("messages"):
            out["meta"] = {**meta, "messages": [_message_2026_07(m) for m in meta["messages"]]}
    return out


def _lift(doc: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The 2024 form: `uuid`, `name`, ... at the top of the component, `href` for its URL."""
    out: dict[str, Any] = {}
    for key, item in doc.items():
        if key != "meta":
            out[key] = item
            continue
        for name in _LIFTED:
            if name in meta:
                out[name] = meta[name]
        if "url" in meta:
            out["href"] = meta["url"]
    return out


def _message_2026_07(message: Any) -> Any:
    if isinstance(message, dict) and "type" in message:
        return {("kind" if key == "type" else key): item for key, item in message.items()}
    return message
