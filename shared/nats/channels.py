"""The message channels the processes really use, as their handlers and publishers declare them.

Every durable JetStream reader declares its handler with `@receives(...)` (the consumer refuses a
handler that is not declared, see consumer.py) and every publisher that has no FastStream publisher
object declares what it sends with `sends(...)` beside the code that sends it. The AsyncAPI generator
(`services/ebroker/asyncapi.py`) reads `CHANNELS`, so the document shows what runs, with the
handler's docstring as its description.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


class Direction(StrEnum):
    RECEIVE = "receive"  # a process consumes the subject
    SEND = "send"  # a process publishes to it


@dataclass(frozen=True)
class Channel:
    title: str  # unique: the document's channel and operation name
    subject: str  # a site's subjects with the placeholder site SITE
    contract: type[BaseModel] | None  # None: an empty body
    direction: Direction
    description: str


CHANNELS: dict[str, Channel] = {}


def _register(channel: Channel) -> Channel:
    known = CHANNELS.setdefault(channel.title, channel)
    if known != channel:
        raise ValueError(f"channel {channel.title!r} declared twice, differently: {known} / {channel}")
    return channel


def receives(title: str, subject: str, contract: type[BaseModel]) -> Callable[[F], F]:
    """Declare a durable reader's handler: it is documented with its docstring, and
    `DurableConsumer.of(handler)` reads the contract from here."""

    def declare(handler: F) -> F:
        doc = inspect.getdoc(handler)
        if not doc:
            raise TypeError(f"{handler.__qualname__}: a declared handler says what it does in a docstring")
        handler.__channel__ = _register(Channel(title, subject, contract, Direction.RECEIVE, doc))
        return handler

    return declare


def sends(title: str, subject: str, contract: type[BaseModel] | None, description: str) -> Channel:
    """Declare a subject a process publishes `contract` to (at module level, beside the publishing code)."""
    return _register(Channel(title, subject, contract, Direction.SEND, description))


def channel_of(handler: Callable[..., Any]) -> Channel:
    channel = getattr(handler, "__channel__", None)
    if channel is None:
        raise TypeError(f"{getattr(handler, '__qualname__', handler)!r} is not declared with @receives")
    return channel
