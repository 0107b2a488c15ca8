"""UpdateRequest: a client's change to a session, e.g. `{kind: uri:enum-value-update, path: phase, value: ACCEPTED}`."""

from __future__ import annotations

from typing import Any, Literal

from . import kinds
from .base import Wire


class EnumValueUpdate(Wire):
    kind: Literal[kinds.ENUM_VALUE_UPDATE] = kinds.ENUM_VALUE_UPDATE
    path: str
    value: str


def normalize_update(value: Any) -> Any:
    """Accept the older wrapped form `{update: {type: uri:enum-value-update, ...}}` too."""
    if isinstance(value, dict) and set(value) == {"update"} and isinstance(value["update"], dict):
        value = value["update"]
    if isinstance(value, dict) and "type" in value and "kind" not in value:
        value = {("kind" if k == "type" else k): v for k, v in value.items()}
    return value
