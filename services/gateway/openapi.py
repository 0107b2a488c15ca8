"""OpenAPI description of bodies the routes read and write themselves (three media types each)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from srcnet_eb.shared.model import kinds

from . import openapi_answers
from .wire import media

REF = "#/components/schemas/{model}"
REQUEST, OLDER_REQUEST = "ExecutionRequest", "OlderExecutionRequest"


def content(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": REF.format(model=model.__name__)}
    return {kind: {"schema": schema} for kind in (media.YAML, media.JSON, media.XML)}


def body(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "description": description, "content": content(model)}}


def answer(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": content(model)}


def install(app: FastAPI, models: list[type[BaseModel]]) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                found = model.model_json_schema(ref_template=REF, mode="serialization")
                schemas.update(found.pop("$defs", {}))
                schemas[model.__name__] = found
            _dialects(spec)
            openapi_answers.install(schemas, spec.get("paths", {}))
            document_statuses(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = build


def _spellings() -> dict[str, list[str]]:
    """Internal kind -> every spelling the broker accepts for it (the alias table, inverted)."""
    found: dict[str, list[str]] = {}
    for spelling, internal in kinds.ALIASES.items():
        found.setdefault(internal, []).append(spelling)
    return found


def _dialects(spec: dict[str, Any]) -> None:
    """Describe what the broker reads, in every dialect: each known kind in any of its spellings (and
    required: it selects the schema), an unknown component only with a kind that is none of them (so the
    `oneOf` branches are disjoint), `computer` beside `compute`, and the 2024 form as an alternative body."""
    schemas = spec["components"]["schemas"]
    spellings = _spellings()
    for schema in schemas.values():
        kind = schema.get("properties", {}).get("kind", {})
        if kind.get("const") in spellings:
            schema["properties"]["kind"] = {"type": "string", "enum": spellings[kind["const"]],
                                            "description": "this kind in any dialect's spelling"}
            schema["required"] = sorted({*schema.get("required", []), "kind"})
    for unknown in ("UnknownComponent", "UnknownItem"):  # components; costs[] and metrics[] items
        if unknown in schemas:
            schemas[unknown].setdefault("properties", {})["kind"] = {"type": "string", "not": {"enum": sorted(kinds.ALIASES)}}
    if REQUEST not in schemas:
        return
    request = schemas[REQUEST]
    request["properties"]["computer"] = {**request["properties"]["compute"], "description": "2025: `compute`"}
    schemas[OLDER_REQUEST] = _older_request()
    either = {"anyOf": [{"$ref": REF.format(model=REQUEST)}, {"$ref": REF.format(model=OLDER_REQUEST)}]}
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            for item in operation.get("requestBody", {}).get("content", {}).values():
                if item.get("schema") == {"$ref": REF.format(model=REQUEST)}:
                    item["schema"] = either


def _older_request() -> dict[str, Any]:
    """The 2024 form, which the broker rewrites into the internal one before it validates it in full."""
    component = {"type": "object", "required": ["type"], "additionalProperties": True,
                 "properties": {"type": {"type": "string"}, "name": {"type": "string"}, "uuid": {"type": "string"}}}
    listed = {"type": "array", "items": component}
    return {
        "title": OLDER_REQUEST, "type": "object", "required": ["executable"], "additionalProperties": False,
        "description": "The 2024 form: `type` for `kind`, `name`/`uuid` on top, resources grouped under `resources`.",
        "properties": {
            "type": {"type": "string"}, "name": {"type": "string"}, "uuid": {"type": "string"},
            "description": {"type": "string"}, "executable": component,
            "resources": {"type": "object", "additionalProperties": False,
                          "properties": {name: listed for name in ("compute", "computer", "storage", "data", "volumes")}},
            "schedule": {"$ref": REF.format(model="RequestSchedule")},
        },
    }


# --- Statuses every operation can answer (issue 11): added to what each route declares itself. ---

_ERROR = {"$ref": REF.format(model="ErrorResponse")}
_COMMON = {
    "401": "No valid bearer token (WWW-Authenticate says why)",
    "406": "No acceptable media type (Accept)",
    "503": "A service it needs (planner, database) is unavailable; Retry-After may say when to retry",
}
_WITH_PARAMETERS = {"422": "A parameter is not valid; messages name each"}
_WITH_BODY = {
    "400": "Malformed body: unreadable, ambiguous (a key given twice), or beyond the depth or item limits",
    "408": "The body was not sent within the body timeout",
    "413": "Body too large, or too large to queue once serialized",
    "415": "Unsupported Content-Type",
    "422": "Invalid request; messages name each field",
}


def document_statuses(spec: dict[str, Any]) -> None:
    """Add to every operation the error statuses the gateway answers for it, keeping those it names."""
    for item in spec.get("paths", {}).values():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            statuses = dict(_COMMON)
            if operation.get("parameters"):
                statuses |= _WITH_PARAMETERS
            if "requestBody" in operation:
                statuses |= _WITH_BODY
            responses = operation.setdefault("responses", {})
            for status, description in statuses.items():
                responses.setdefault(status, {"description": description,
                                              "content": {kind: {"schema": _ERROR}
                                                          for kind in (media.YAML, media.JSON, media.XML)}})
