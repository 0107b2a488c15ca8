"""Rendering a wire model in the negotiated media type."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from . import media
from .body import response_media


def reply(request: Request, body: BaseModel | dict, root: str, status: int = 200, headers: dict | None = None) -> Response:
    kind = response_media(request)
    doc = body.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(body, BaseModel) else body
    return Response(media.encode(doc, kind, root), status_code=status, media_type=kind, headers=headers)
