"""Reading a request body: bounded in size, decoded by media type, normalized, validated."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from shared.model import normalize_request

from . import media
from .problems import Problem, from_validation

M = TypeVar("M", bound=BaseModel)


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem.field(413, "Request body too large", "body", f"larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem.field(413, "Request body too large", "body", f"larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def request_media(request: Request) -> str:
    found = media.content_type(request.headers.get("content-type"))
    if found is None:
        raise Problem.field(
            415, "Unsupported media type", "Content-Type",
            f"'{request.headers.get('content-type')}' is not one of {media.JSON}, {media.YAML}, {media.XML}",
        )
    return found


def response_media(request: Request) -> str:
    found = media.negotiate(request.headers.get("accept"))
    if found is None:
        raise Problem.field(
            406, "Not acceptable", "Accept",
            f"'{request.headers.get('accept')}' matches none of {media.JSON}, {media.YAML}, {media.XML}",
        )
    return found


async def parse_request(request: Request, model: type[M], limit: int,
                        normalize: Callable[[Any], Any] = normalize_request) -> M:
    kind = request_media(request)
    raw = await read_limited(request, limit)
    try:
        doc = media.decode(raw, kind)
    except media.MediaError as exc:
        raise Problem.field(400, "Malformed request body", exc.field, exc.reason) from exc
    if not isinstance(doc, dict):
        raise Problem.field(422, "The request is not valid", "body", "must be an object (a mapping of fields)")
    try:
        return model.model_validate(normalize(doc))
    except ValidationError as exc:
        raise from_validation(exc) from exc
