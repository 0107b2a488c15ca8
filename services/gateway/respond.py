"""Rendering a wire model in the negotiated media type (and, for OfferSets and sessions, dialect)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from srcnet_eb.shared.model import Dialect, outbound

from . import dialects
from .wire import media
from .body import response_media


def reply(request: Request, body: BaseModel | dict, root: str, status: int = 200, headers: dict | None = None,
          dialect: Dialect | None = None) -> Response:
    kind = response_media(request)
    doc = body.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(body, BaseModel) else body
    media_type = f"{kind}; {dialects.PARAMETER}={dialect}" if dialect else kind
    discriminator = "type" if dialect is Dialect.V2024 else "kind"
    return Response(media.encode(doc, kind, root, discriminator), status_code=status, media_type=media_type, headers=headers)


def offerset(request: Request, doc: dict[str, Any], stored: Dialect, status: int = 200,
             headers: dict | None = None) -> Response:
    dialect = dialects.answer(request, stored)
    return reply(request, outbound.offerset(doc, dialect), "offers-response", status, headers, dialect)


def session(request: Request, doc: dict[str, Any], stored: Dialect) -> Response:
    dialect = dialects.answer(request, stored)
    return reply(request, outbound.session(doc, dialect), "execution", dialect=dialect)
