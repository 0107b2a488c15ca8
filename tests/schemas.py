"""Conformance: our response documents against the reference IVOA ExecutionBroker schema.

The schema files are loaded into one `referencing` registry, so their `$ref`s across files resolve
through the library. OpenAPI's `discriminator` is no JSON Schema keyword (a validator ignores it), so
beside validating a document against its top-level schema we follow the discriminators ourselves:
every component's kind must be one the schema maps, and the component must validate against the
schema it maps to. 2026-07 and 2025-11 documents are checked against the 2026-07 schema (the same
shapes; 2025-11 spells kinds the older way), 2024 ones against the 2026-05 copy (the `type` form).
"""

from __future__ import annotations

import json

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from srcnet_eb.shared.model import kinds

REFERENCE = Path("/work/shared/reference")
NEWEST = REFERENCE / "eb-schema-2026-07"
OLDER = REFERENCE / "ivoa-eb-schema"
# Kinds of our extensions, which no reference schema maps (the 2026-07 schema names no OfferSet kind
# and has no accelerators; the 2024 one names neither an OfferSet nor a session kind).
EXTENSIONS = {kinds.OFFERSET, kinds.GPU}
OLDER_EXTENSIONS = EXTENSIONS | {kinds.SESSION, kinds.SIMPLE_COST, kinds.SIMPLE_METRIC}  # 2024: no costs


class Nonconformant(AssertionError):
    pass


@dataclass(frozen=True, eq=False)
class Schema:
    """One reference schema: its registry, the discriminator mappings (kind -> schema URI) and where its
    components file is."""

    registry: Registry
    mapping: dict[str, str]
    components: str
    key: str  # the discriminating property: `kind`, or `type` in the 2024 form

    def validator(self, uri: str) -> Draft202012Validator:
        return _validator(self, uri)

    def check(self, doc: Any, schema: str) -> None:
        """`doc` against `components.yaml#/components/schemas/<schema>`, then each component by its kind."""
        self._valid(doc, f"{self.components}#/components/schemas/{schema}", schema)
        self._components(doc, "")

    def _valid(self, doc: Any, uri: str, where: str) -> None:
        errors = sorted(self.validator(uri).iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            raise Nonconformant("; ".join(f"{where}{_path(e)}: {e.message[:300]}" for e in errors[:5]))

    def _components(self, value: Any, where: str) -> None:
        if isinstance(value, list):
            for i, item in enumerate(value):
                self._components(item, f"{where}[{i}]")
            return
        if not isinstance(value, dict):
            return
        kind = value.get(self.key)
        if where.rsplit(".", 1)[-1].startswith("connectors["):
            kind = None  # the schema names no connector kinds (`kind` is any URI there)
        if isinstance(kind, str) and (kind.startswith("https://") or kind.startswith("uri:")):
            internal = kinds.normalize(kind)
            if kind in self.mapping:
                self._valid(value, self.mapping[kind], where or "document")
            elif internal not in (OLDER_EXTENSIONS if self.key == "type" else EXTENSIONS):
                raise Nonconformant(f"{where or 'document'}: kind '{kind}' is none the reference schema names")
        for name, item in value.items():
            self._components(item, f"{where}.{name}" if where else name)


def _path(error: ValidationError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


@cache
def _validator(schema: Schema, uri: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": uri}, registry=schema.registry)


def _load(path: Path) -> Resource:
    return Resource.from_contents(yaml.safe_load(path.read_text()), default_specification=DRAFT202012)


def _mappings(uri: str, value: Any, into: dict[str, str]) -> None:
    if isinstance(value, dict):
        found = value.get("discriminator", {}).get("mapping", {}) if isinstance(value.get("discriminator"), dict) else {}
        for kind, target in found.items():
            into.setdefault(kind, urljoin(uri, target))
        for item in value.values():
            _mappings(uri, item, into)
    elif isinstance(value, list):
        for item in value:
            _mappings(uri, item, into)


def _schema(root: Path, key: str, retrieve=None) -> Schema:
    resources, mapping = [], {}
    for path in sorted(root.rglob("*.yaml")):
        uri = path.as_uri()
        resource = _load(path)
        resources.append((uri, resource))
        _mappings(uri, resource.contents, mapping)
    registry = (Registry(retrieve=retrieve) if retrieve else Registry()).with_resources(resources)
    # `#/components/...` mapping targets name schemas of the file the mapping is in: keep only valid ones.
    mapping = {kind: uri for kind, uri in mapping.items() if _resolves(registry, uri)}
    return Schema(registry.crawl(), mapping, (root / "components.yaml").as_uri(), key)


def _resolves(registry: Registry, uri: str) -> bool:
    try:
        registry.resolver().lookup(uri)
    except Exception:  # noqa: BLE001 - an unresolvable mapping target is one the schema itself breaks
        return False
    return True


def _older_names(uri: str) -> Resource:
    """The 2026-05 copy writes `$ref: 'AbstractComponent'`, meaning the schema of that name in the same
    file or in its components.yaml; such a reference resolves to a file beside it that does not exist.
    Hand the library a resource that refers on to the named schema (so `#/...` inside it stays in its file)."""
    path = Path(uri.removeprefix("file://"))
    if path.exists() or OLDER not in path.parents:
        raise NoSuchResource(ref=uri)
    for candidate in [*sorted(path.parent.glob("*.yaml")), OLDER / "components.yaml"]:
        if path.name in _schema_names(candidate):
            return Resource.from_contents({"$ref": f"{candidate.as_uri()}#/components/schemas/{path.name}"},
                                          default_specification=DRAFT202012)
    raise NoSuchResource(ref=uri)


@cache
def _schema_names(path: Path) -> frozenset[str]:
    return frozenset((yaml.safe_load(path.read_text()).get("components") or {}).get("schemas", {}))


@cache
def newest() -> Schema:
    return _schema(NEWEST, "kind")


@cache
def older() -> Schema:
    return _schema(OLDER, "type", _older_names)


def check_offerset(doc: dict[str, Any], dialect: str) -> None:
    """An OfferSet in `dialect`, and each of its offers as a scheduled session."""
    if dialect == kinds.OLDER:
        older().check(doc, "OfferSetResponse")
        for offer in doc.get("offers", []):
            older().check(offer, "ExecutionSessionResponse")
        return
    doc = _kind_namespace(doc, dialect)
    newest().check(doc, "OfferSetResponse")
    for offer in doc.get("offers", []):
        newest().check(offer, "ScheduledExecutionSession")


def check_session(doc: dict[str, Any], dialect: str) -> None:
    if dialect == kinds.OLDER:
        older().check(doc, "ExecutionSessionResponse")
        return
    doc = _kind_namespace(doc, dialect)
    newest().check(doc, "ScheduledExecutionSession")


def _kind_namespace(doc: Any, dialect: str) -> Any:
    """Every component kind is in the dialect's namespace; a 2025-11 document is then checked as 2026-07
    (the same shapes) with its kinds spelled the 2026-07 way."""
    for kind in _kinds(doc):
        if kinds.dialect_of(kind) not in (dialect, None):
            raise Nonconformant(f"kind '{kind}' is not in the {dialect} namespace")
    return _respelled(doc) if dialect == kinds.KIND_META else doc


def _respelled(value: Any) -> Any:
    if isinstance(value, list):
        return [_respelled(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _respelled(item) for key, item in value.items()}
    if isinstance(out.get("kind"), str):
        out["kind"] = kinds.spell(kinds.normalize(out["kind"]), kinds.NEWEST)
    return out


def _kinds(value: Any) -> list[str]:
    if isinstance(value, list):
        return [k for item in value for k in _kinds(item)]
    if not isinstance(value, dict):
        return []
    own = [value["kind"]] if isinstance(value.get("kind"), str) else []
    return own + [k for item in value.values() for k in _kinds(item)]


async def check_response(response: Any) -> None:
    """httpx response hook: every OfferSet or session the broker answers (JSON or YAML) conforms to the
    reference schema of the dialect its Content-Type names."""
    if response.status_code not in (200, 303):
        return
    media, _, params = response.headers.get("content-type", "").partition(";")
    dialect = dict(p.strip().split("=", 1) for p in params.split(";") if "=" in p).get("dialect")
    if dialect is None or media.strip() not in ("application/json", "application/yaml"):
        return
    await response.aread()
    # JSON by a JSON parser: YAML 1.1 reads a number such as 9e-06 (no dot) as a string.
    doc = json.loads(response.content) if media.strip() == "application/json" else yaml.safe_load(response.content)
    if not isinstance(doc, dict):
        raise Nonconformant(f"{response.request.url}: not a document")
    try:
        (check_offerset if "offers" in doc else check_session)(doc, dialect)
    except Nonconformant as exc:
        raise Nonconformant(f"{response.request.method} {response.request.url} ({dialect}): {exc}") from None
