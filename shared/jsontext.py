"""JSON for the hot paths (stored documents, HTTP answers): orjson, several times the standard library's
speed on our documents, with the standard library behind it for what orjson refuses (an integer beyond
64 bits; NaN or Infinity in text written before)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON (datetimes as RFC 3339, enums as their values)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer past 64 bits, which JSON itself allows
        return json.dumps(value, separators=(",", ":"), default=str).encode()


def dumps_text(value: Any) -> str:
    return dumps(value).decode()


def loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # its error, or what only it reads (NaN)
