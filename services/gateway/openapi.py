"""OpenAPI description of bodies the routes read and write themselves (three media types each)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from . import media

REF = "#/components/schemas/{model}"


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
            document_statuses(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = build


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
