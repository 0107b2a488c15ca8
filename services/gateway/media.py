"""Media types of the IVOA endpoints: JSON, YAML (the default) and XML, in and out."""

from __future__ import annotations

import json
from typing import Any

import mimeparse
import xmltodict
import yaml
from yaml import CSafeDumper, CSafeLoader
from yaml.events import AliasEvent

JSON = "application/json"
YAML = "application/yaml"
XML = "application/xml"

_ALIASES = {
    "application/json": JSON,
    "text/json": JSON,
    "application/yaml": YAML,
    "application/x-yaml": YAML,
    "text/yaml": YAML,
    "text/x-yaml": YAML,
    "application/xml": XML,
    "text/xml": XML,
}
# Offered in this order; YAML last so that `*/*` (every type equally good) picks it.
_OFFERED = [JSON, XML, "application/x-yaml", "text/yaml", YAML]

# Lists the XML form wraps (schema: `wrapped: true`): element -> item element.
_WRAPPED = {"offers": "execution", "messages": "message"}
# Lists the XML form writes as repeated elements; parsing must know them to keep 1-item lists.
_REPEATED = frozenset({
    "locations", "storage", "data", "volumes", "accelerators", "resources", "replicas", "rses",
    "ports", "access", "options", "addresses", "costs", "metrics", "command", "connectors",
})
_ITEMS = {item: wrapper for wrapper, item in _WRAPPED.items()}


class MediaError(ValueError):
    """A body that cannot be read; `field` names where."""

    def __init__(self, reason: str, field: str = "body") -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def content_type(header: str | None) -> str | None:
    """The canonical type of a Content-Type header; YAML when absent, None when unsupported."""
    if not header or not header.strip():
        return YAML
    base = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base)


def negotiate(accept: str | None) -> str | None:
    """The response type for an Accept header; YAML when absent, None when nothing fits."""
    if not accept or not accept.strip():
        return YAML
    try:
        best = mimeparse.best_match(_OFFERED, accept)
    except (ValueError, IndexError):
        return None
    return _ALIASES.get(best) if best else None


def decode(body: bytes, media: str) -> Any:
    if not body.strip():
        raise MediaError("the request body is empty")
    if media == JSON:
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MediaError(f"malformed JSON: {exc}") from exc
    if media == YAML:
        return _yaml(body)
    return _xml(body)


def _yaml(body: bytes) -> Any:
    try:
        # Aliases can expand a small document into a huge one (billion laughs): refuse them.
        if any(isinstance(event, AliasEvent) for event in yaml.parse(body, Loader=CSafeLoader)):
            raise MediaError("YAML aliases are not accepted")
        return yaml.load(body, Loader=CSafeLoader)
    except yaml.YAMLError as exc:
        raise MediaError(f"malformed YAML: {exc}".replace("\n", " ")) from exc


def _xml(body: bytes) -> Any:
    def as_list(path: list, key: str, _value: Any) -> bool:
        if key in _ITEMS:  # `message` is a list item only inside `messages`
            return bool(path) and path[-1][0] == _ITEMS[key]
        return key in _REPEATED

    try:
        doc = xmltodict.parse(body, attr_prefix="", cdata_key="text", force_list=as_list, disable_entities=True)
    except Exception as exc:  # expat raises several types; all mean a malformed body
        raise MediaError(f"malformed XML: {exc}") from exc
    if not isinstance(doc, dict) or len(doc) != 1:
        raise MediaError("the XML body needs one root element")
    return _unwrap(next(iter(doc.values())) or {})


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _WRAPPED and isinstance(item, dict) and set(item) <= {_WRAPPED[key]}:
                item = item.get(_WRAPPED[key], [])
            out[key] = _unwrap(item)
        return out
    if isinstance(value, list):
        return [_unwrap(item) for item in value]
    return value


def encode(doc: Any, media: str, root: str) -> bytes:
    if media == JSON:
        return json.dumps(doc, separators=(",", ":")).encode()
    if media == YAML:
        return yaml.dump(doc, Dumper=CSafeDumper, sort_keys=False, allow_unicode=True).encode()
    return xmltodict.unparse({root: _for_xml(doc)}, pretty=True).encode()


def _for_xml(value: Any) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "kind" and isinstance(item, str):
                out["@kind"] = item  # the schema's discriminator is an XML attribute
            elif key in _WRAPPED and isinstance(item, list):
                out[key] = {_WRAPPED[key]: [_for_xml(i) for i in item]} if item else None
            else:
                out[key] = _for_xml(item)
        return out
    if isinstance(value, list):
        return [_for_xml(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
