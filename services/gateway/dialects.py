"""Which dialect to answer in: the one the client asks for, else the one its request was written in.

A client asks with a media-type parameter, `Accept: application/json; dialect=2026-07` (content
negotiation is what Accept is for, and it works for every media type and every route), or, where it
cannot set headers (a browser, a link), with the query parameter `?dialect=2026-07`, which wins.
"""

from __future__ import annotations

import mimeparse
from fastapi import Request

from srcnet_eb.shared.model import Dialect
from srcnet_eb.shared.model.dialect import NAMES, parse

from .wire import media
from .body import response_media
from .problems import Problem

PARAMETER = "dialect"


def wanted(request: Request) -> Dialect | None:
    """The dialect the client asked for (None: none), or a 400/406 naming the unknown value."""
    asked = request.query_params.get(PARAMETER)
    if asked is not None:
        found = parse(asked)
        if found is None:
            raise Problem.field(400, "Unknown dialect", PARAMETER, f"'{asked}' is not one of {', '.join(NAMES)}")
        return found
    accept = request.headers.get("accept")
    if not accept or PARAMETER not in accept:
        return None
    chosen = response_media(request)
    for item in accept.split(","):
        try:
            kind, sub, params = mimeparse.parse_media_range(item)
        except (ValueError, IndexError):
            continue
        if PARAMETER not in params:
            continue
        found = parse(params[PARAMETER])
        if found is None:
            raise Problem.field(406, "Not acceptable", "Accept",
                                f"dialect '{params[PARAMETER]}' is not one of {', '.join(NAMES)}")
        if kind == "*" or media.content_type(f"{kind}/{sub}") == chosen or sub == "*":
            return found
    return None


def answer(request: Request, stored: Dialect) -> Dialect:
    return wanted(request) or stored
