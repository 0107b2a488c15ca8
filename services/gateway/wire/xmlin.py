"""Reading the XML form: expat with our own handlers, limits checked on every element as it opens.

Builds what xmltodict built before (attributes as plain keys, text as `text` beside attributes, known
lists always lists, wrapped lists unwrapped) but in linear time (xmltodict copies the path for each
element: quadratic in depth), and refuses a repeated element where one is expected instead of
silently turning it into a list.
"""

from __future__ import annotations

from typing import Any
from xml.parsers import expat

from .limits import IntakeError, Limits, too_deep, too_many


class _Frame:
    __slots__ = ("name", "item", "text")

    def __init__(self, name: str) -> None:
        self.name = name
        self.item: dict[str, Any] | None = None
        self.text: list[str] = []


class _Builder:
    def __init__(self, limits: Limits, repeated: frozenset[str], wrapped: dict[str, str]) -> None:
        self.limits = limits
        self.repeated = repeated
        self.wrapped = wrapped
        self.items = {item: wrapper for wrapper, item in wrapped.items()}
        self.stack: list[_Frame] = []
        self.count = 0
        self.root: tuple[str, Any] | None = None

    def path(self, frame: _Frame, key: str) -> str:
        """`a.b.key`, from below the root element (the root names the body, not a field)."""
        frames = self.stack if self.stack and self.stack[-1] is frame else [*self.stack, frame]
        return ".".join([f.name for f in frames[1:]] + [key])

    def _push(self, frame: _Frame, key: str, value: Any, listed: bool) -> None:
        if frame.item is None:
            frame.item = {}
        if key not in frame.item:
            frame.item[key] = [value] if listed else value
        elif listed and isinstance(frame.item[key], list):
            frame.item[key].append(value)
        else:
            raise IntakeError(400, self.path(frame, key), "given more than once; each field may appear once")

    def start(self, name: str, attrs: list[str]) -> None:
        if len(self.stack) >= self.limits.max_depth:
            raise too_deep(self.limits)
        self.count += 1 + len(attrs) // 2
        if self.count > self.limits.max_items:
            raise too_many(self.limits)
        frame = _Frame(name)
        for key, value in zip(attrs[0::2], attrs[1::2]):
            if key != "xmlns" and not key.startswith("xmlns:"):  # namespace declarations are not fields
                self._push(frame, key, value, listed=False)
        self.stack.append(frame)

    def characters(self, data: str) -> None:
        self.stack[-1].text.append(data)

    def end(self, name: str) -> None:
        frame = self.stack.pop()
        text = "".join(frame.text).strip() or None
        value: Any = text
        if frame.item is not None:
            if text:
                self._push(frame, "text", text, listed=False)
            value = frame.item
            inner = self.wrapped.get(name)
            if inner is not None and set(value) <= {inner}:
                value = value.get(inner, [])
        if not self.stack:
            self.root = (name, value)
            return
        parent = self.stack[-1]
        listed = parent.name == self.items[name] if name in self.items else name in self.repeated
        self._push(parent, name, value, listed)


def _no_doctype(*_args: Any) -> None:
    raise IntakeError(400, "body", "a DOCTYPE (and with it entities) is not accepted")


def parse_xml(body: bytes, limits: Limits, repeated: frozenset[str], wrapped: dict[str, str]) -> Any:
    """The body's root element's content, as plain data."""
    builder = _Builder(limits, repeated, wrapped)
    parser = expat.ParserCreate()
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.characters
    parser.StartDoctypeDeclHandler = _no_doctype
    parser.EntityDeclHandler = _no_doctype
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise IntakeError(400, "body", f"malformed XML: {exc}") from None
    if builder.root is None:
        raise IntakeError(400, "body", "the XML body needs one root element")
    return builder.root[1] or {}
