"""Reading the JSON and YAML forms within the limits: duplicate keys, number sizes, depth and counts.

JSON: the C decoder, with hooks that mark a duplicated key or an oversized number for the walk
(limits.check) to name by field; its own recursion guard stops deep nesting in linear time.
YAML: a first pass over libyaml's events (a state machine, no recursion) checks depth, counts,
aliases, merge keys and duplicate keys with their path before anything is built; only then is the
document built, by the C parser and the safe constructor, whose recursion the first pass bounded.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

import yaml
from yaml import CSafeLoader
from yaml.events import (
    AliasEvent, CollectionStartEvent, MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent,
)

from .limits import Duplicated, IntakeError, Limits, Oversized, too_deep, too_many


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) == len(pairs):
        return doc
    seen: set[str] = set()
    key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
    return Duplicated(doc, key)


def _number(text: str, limits: Limits, parse: type) -> Any:
    if len(text) > limits.max_digits:
        return Oversized(text)
    value = parse(text)
    return Oversized(text) if isinstance(value, float) and not math.isfinite(value) else value


@lru_cache(maxsize=8)
def _digits(limit: int) -> re.Pattern[bytes]:
    return re.compile(rb"[0-9.eE+-]{%d}" % (limit + 1))


def _long_digits(body: bytes, limits: Limits) -> bool:
    return _digits(limits.max_digits).search(body) is not None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # a JSON string, escapes and all


def _surely_too_many(body: bytes, limits: Limits) -> bool:
    """More commas outside strings than the limit is more values than the limit (each separates two values
    of one container). Known in two C passes, before the one long C call that parsing is, which holds the
    GIL for a whole body: an event loop waiting on it would stall for that long."""
    if body.count(b",") <= limits.max_items or b"\x00" in body[:4]:  # most bodies; UTF-16/32 is parsed as is
        return False
    return _STRING.sub(b"", body).count(b",") > limits.max_items


def _constant(name: str) -> Any:
    raise IntakeError(400, "body", f"{name} is not a JSON number")


def read_json(body: bytes, limits: Limits) -> Any:
    if _surely_too_many(body, limits):
        raise too_many(limits)
    # A call into Python per number costs more than all the C parsing: only when a long one is there.
    numbers = {"parse_int": lambda text: _number(text, limits, int),
               "parse_float": lambda text: _number(text, limits, float)} if _long_digits(body, limits) else {}
    try:
        return json.loads(body, object_pairs_hook=_pairs, parse_constant=_constant, **numbers)
    except RecursionError:
        raise too_deep(limits) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntakeError(400, "body", f"malformed JSON: {exc}") from None


class _Path:
    """Where the event pass is, for naming a duplicated key: one entry per open collection."""

    def __init__(self) -> None:
        self.frames: list[list[Any]] = []  # mapping: [keys seen, value awaited?, last key]; sequence: [index]

    def text(self, last: str) -> str:
        parts = []
        for frame in self.frames[:-1]:
            parts.append(f"[{frame[0] - 1}]" if len(frame) == 1 else f".{frame[2]}")
        return ("".join(parts) + f".{last}").lstrip(".")


def _value_started(path: _Path) -> None:
    """A node begins: it is a key, a mapping's value or a sequence's item."""
    if not path.frames:
        return
    frame = path.frames[-1]
    if len(frame) == 1:
        frame[0] += 1
    else:
        frame[1] = not frame[1]


def _scan_yaml(body: bytes, limits: Limits) -> None:
    path, count = _Path(), 0
    for event in yaml.parse(body, Loader=CSafeLoader):
        if isinstance(event, AliasEvent):
            # Aliases can expand a small document into a huge one (billion laughs): refuse them.
            raise IntakeError(400, "body", "YAML aliases are not accepted")
        if isinstance(event, ScalarEvent | CollectionStartEvent):
            count += 1
            if count > limits.max_items:
                raise too_many(limits)
            frame = path.frames[-1] if path.frames else None
            is_key = frame is not None and len(frame) == 3 and not frame[1]
            _value_started(path)
            if is_key:
                if not isinstance(event, ScalarEvent):
                    raise IntakeError(400, path.text("?"), "a field name must be text")
                if event.value == "<<" and not event.style:
                    raise IntakeError(400, path.text("<<"), "YAML merge keys are not accepted")
                if event.value in frame[0]:
                    raise IntakeError(400, path.text(event.value), "given more than once; each field may appear once")
                frame[0].add(event.value)
                frame[2] = event.value
        if isinstance(event, CollectionStartEvent):
            if len(path.frames) >= limits.max_depth:
                raise too_deep(limits)
            path.frames.append([set(), False, None] if isinstance(event, MappingStartEvent) else [0])
        elif isinstance(event, MappingEndEvent | SequenceEndEvent):
            path.frames.pop()


@lru_cache(maxsize=8)
def _loader(max_digits: int) -> type:
    """The safe loader, but numbers past the limit are kept as text for the walk to name."""

    class Loader(CSafeLoader):
        def construct_yaml_int(self, node: Any) -> Any:
            return Oversized(node.value) if len(node.value) > max_digits else super().construct_yaml_int(node)

        def construct_yaml_float(self, node: Any) -> Any:
            if len(node.value) > max_digits:
                return Oversized(node.value)
            value = super().construct_yaml_float(node)
            return value if math.isfinite(value) else Oversized(node.value)

    Loader.add_constructor("tag:yaml.org,2002:int", Loader.construct_yaml_int)
    Loader.add_constructor("tag:yaml.org,2002:float", Loader.construct_yaml_float)
    return Loader


def read_yaml(body: bytes, limits: Limits) -> Any:
    try:
        _scan_yaml(body, limits)
        return yaml.load(body, Loader=_loader(limits.max_digits))  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        raise IntakeError(400, "body", f"malformed YAML: {exc}".replace("\n", " ")) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a scalar the constructor cannot build (a date 2026-02-30)
        if isinstance(exc, IntakeError):
            raise
        raise IntakeError(400, "body", f"YAML value not readable: {exc}") from None
