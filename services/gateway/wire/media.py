"""Media types of the IVOA endpoints: JSON, YAML (the default) and XML, in and out."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import mimeparse
import xmltodict
import yaml
from yaml import CSafeDumper

from srcnet_eb.shared import jsontext

from .decoders import read_json, read_yaml
from .limits import IntakeError, Limits, check
from .xmlin import parse_xml

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
OFFERED = [JSON, XML, "application/x-yaml", "text/yaml", YAML]

# Lists the XML form wraps (schema: `wrapped: true`): element -> item element.
_WRAPPED = {"offers": "execution", "messages": "message"}
# Lists the XML form writes as repeated elements; parsing must know them to keep 1-item lists.
_REPEATED = frozenset({
    "locations", "storage", "data", "volumes", "accelerators", "resources", "replicas", "rses",
    "ports", "access", "options", "addresses", "costs", "metrics", "command", "connectors",
})


def content_type(header: str | None) -> str | None:
    """The canonical type of a Content-Type header; YAML when absent, None when unsupported."""
    if not header or not header.strip():
        return YAML
    base = header.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base)


@lru_cache(maxsize=128)  # a client sends the same Accept every time; parsing it was 4% of the gateway's CPU
def negotiate(accept: str | None) -> str | None:
    """The response type for an Accept header; YAML when absent, None when nothing fits."""
    if not accept or not accept.strip():
        return YAML
    try:
        best = mimeparse.best_match(OFFERED, accept)
    except (ValueError, IndexError):
        return None
    return _ALIASES.get(best) if best else None


def decode(body: bytes, media: str, limits: Limits = Limits()) -> Any:
    """The body as plain data, within `limits` (IntakeError, naming the field, otherwise)."""
    if not body.strip():
        raise IntakeError(400, "body", "the request body is empty")
    if media == JSON:
        doc = read_json(body, limits)
    elif media == YAML:
        doc = read_yaml(body, limits)
    else:
        doc = parse_xml(body, limits, _REPEATED, _WRAPPED)
    check(doc, limits)
    return doc


def encode(doc: Any, media: str, root: str, discriminator: str = "kind") -> bytes:
    """`discriminator`: the field the dialect names a component's kind with (the 2024 form: `type`)."""
    if media == JSON:
        return jsontext.dumps(doc)
    if media == YAML:
        return yaml.dump(doc, Dumper=CSafeDumper, sort_keys=False, allow_unicode=True).encode()
    return xmltodict.unparse({root: _for_xml(doc, discriminator)}, pretty=True).encode()


def _for_xml(value: Any, discriminator: str, message: bool = False) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            # The schema's discriminator is an XML attribute; a message's `type` is an element.
            if key == discriminator and isinstance(item, str) and not message:
                out[f"@{key}"] = item
            elif key in _WRAPPED and isinstance(item, list):
                out[key] = {_WRAPPED[key]: [_for_xml(i, discriminator, key == "messages") for i in item]} if item else None
            else:
                out[key] = _for_xml(item, discriminator)
        return out
    if isinstance(value, list):
        return [_for_xml(item, discriminator, message) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
