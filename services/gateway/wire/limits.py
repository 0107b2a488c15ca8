"""Limits on a request body's shape, and the one walk that checks a decoded body against them.

The decoders (media.py, xmlin.py) stop at the depth and item limits while they parse, so no body costs
more than linear time; this walk then names, by field path, what a decoder could only mark: a number
with too many digits, a string too long or not encodable, a key given twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

_SCALARS = (int, float, bool, type(None), date)  # date: YAML timestamps; datetime is a date


@dataclass(frozen=True)
class Limits:
    max_depth: int = 32
    max_items: int = 2_000
    max_string: int = 65_536
    max_digits: int = 40

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(settings.max_body_depth, settings.max_body_items, settings.max_string_length,
                   settings.max_number_digits)


class IntakeError(ValueError):
    """A body refused: `status` 400 (unreadable, ambiguous, beyond the limits) or 422 (a bad value)."""

    def __init__(self, status: int, field: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.field = field
        self.reason = reason


class Oversized(str):
    """A number literal longer than the limit, kept as text so the walk can name its field."""


class Duplicated(dict):
    """A mapping in which `key` was given more than once (the decoders build these, the walk names them)."""

    def __init__(self, pairs: Any, key: str) -> None:
        super().__init__(pairs)
        self.key = key


def too_deep(limits: Limits) -> IntakeError:
    return IntakeError(400, "body", f"nested deeper than {limits.max_depth} levels")


def too_many(limits: Limits) -> IntakeError:
    return IntakeError(400, "body", f"more than {limits.max_items} values")


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check(doc: Any, limits: Limits) -> None:
    """Raise IntakeError for the first value of `doc` beyond the limits, naming its field. Iterative:
    no recursion, so the depth a decoder let through cannot overflow the stack here either."""
    stack: list[tuple[str, Any, int]] = [("", doc, 0)]
    count = 1
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict | list):
            count += len(value)  # counted before walking in: the walk costs at most max_items steps
            if count > limits.max_items:
                raise too_many(limits)
        if isinstance(value, dict):
            if depth >= limits.max_depth:
                raise too_deep(limits)
            if isinstance(value, Duplicated):
                raise IntakeError(400, _join(path, value.key), "given more than once; each field may appear once")
            for key, item in value.items():
                if not isinstance(key, str):
                    raise IntakeError(400, _join(path, str(key)), "a field name must be a string")
                _string(path or "body", key, limits, what="field name")
                stack.append((_join(path, key), item, depth + 1))
        elif isinstance(value, list):
            if depth >= limits.max_depth:
                raise too_deep(limits)
            stack.extend((_join(path, i), item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, Oversized):
            reason = (f"a number of more than {limits.max_digits} digits" if len(value) > limits.max_digits
                      else "not a finite number")
            raise IntakeError(422, path or "body", reason)
        elif isinstance(value, str):
            _string(path or "body", value, limits)
        elif isinstance(value, float) and not math.isfinite(value):  # 1e999: no store or client takes it
            raise IntakeError(422, path or "body", "not a finite number")
        elif not isinstance(value, _SCALARS):  # YAML !!binary, !!set: nothing in the model takes them
            raise IntakeError(400, path or "body", f"a value of type {type(value).__name__} is not accepted")


def _string(path: str, text: str, limits: Limits, what: str = "text") -> None:
    if len(text) > limits.max_string:
        raise IntakeError(422, path, f"{what} longer than {limits.max_string} characters")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate (JSON \ud800): no UTF-8 form, nothing can store it
            raise IntakeError(422, path, f"{what} holds a lone surrogate (U+{ord(text[exc.start]):04X}), "
                                         "which is not a character") from None
