"""A problem as a page, for a person whose browser opened an API URL (it asks for text/html first).

A browser sends no bearer token, so the usual answer is a 401: an XML tree said nothing useful to a
person. The page says the same as the Problem document, and points to the dashboard to sign in."""

from __future__ import annotations

from functools import lru_cache
from html import escape

import mimeparse

from srcnet_eb.shared.model import Message

from .wire import media

HTML = "text/html"


def wanted(method: str, accept: str | None) -> bool:
    """A browser navigating: a GET whose Accept is a browser's (it names XHTML) and puts text/html above every
    API media type. A program asking for text/html alone still gets the Problem document (406 and all)."""
    return method == "GET" and _navigating(accept)


@lru_cache(maxsize=128)
def _navigating(accept: str | None) -> bool:
    if not accept or "application/xhtml+xml" not in accept:
        return False
    try:
        return mimeparse.best_match([*media.OFFERED, HTML], accept) == HTML
    except (ValueError, IndexError):
        return False


def page(status: int, title: str, messages: list[Message], base: str) -> bytes:
    lines = "".join(f"<li>{escape(m.message or m.template)}</li>" for m in messages)
    hint = (f'<p>The API needs a bearer token. People sign in on the <a href="{escape(base)}/ui">dashboard</a>; '
            f'the API itself is described at <a href="{escape(base)}/docs">/docs</a>.</p>') if status == 401 else (
            f'<p>See the <a href="{escape(base)}/ui">dashboard</a> or the API at <a href="{escape(base)}/docs">/docs</a>.</p>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status} {escape(title)}</title></head>'
            f'<body><h1>{status} {escape(title)}</h1><ul>{lines}</ul>{hint}</body></html>').encode()
