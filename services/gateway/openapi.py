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
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = build
