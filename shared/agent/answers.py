"""A SiteAnswer's JSON, byte for byte what `model_dump_json` writes, for less.

A request's offers differ only in their meta and schedule (shared/platform/offers.py), so the rest of
the first offer's JSON is reused for each other offer found equal to it outside those two fields: its
own meta and schedule are written and put in their places. Any offer not of that shape is written whole.
"""

from __future__ import annotations

from pydantic import BaseModel

from .. import contracts as c
from ..model import ExecutionSession

_OWN = ("meta", "schedule")  # what each offer has of its own, in the order they come in its JSON


def _json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


def _same_but_own(offer: ExecutionSession, first: ExecutionSession) -> bool:
    if type(offer) is not ExecutionSession or offer.__pydantic_extra__ or first.__pydantic_extra__:
        return False
    a, b = offer.__dict__, first.__dict__
    if len(a) != len(b):
        return False
    for key, value in a.items():  # mostly the very same objects: `is` decides
        if key not in _OWN and (other := b.get(key, a)) is not value and other != value:
            return False
    return True


def _pieces(whole: bytes, first: ExecutionSession) -> list[bytes] | None:
    """The first offer's JSON cut around its own fields: [before meta, between, after schedule]."""
    cut, at = [], 0
    for name in _OWN:
        key = f'"{name}":'.encode() + _json(getattr(first, name))
        found = whole.find(key, at)  # its first occurrence: only plain values come before it
        if found < 0:
            return None
        cut.append(whole[at:found + len(name) + 3])
        at = found + len(key)
    return [*cut, whole[at:]]


def encode(answer: c.SiteAnswer) -> bytes:
    offers = answer.offers
    if len(offers) < 2 or type(offers[0]) is not ExecutionSession:
        return _json(answer)
    first = _json(offers[0])
    pieces = _pieces(first, offers[0])
    head = _json(answer.model_copy(update={"offers": []}))
    split = head.find(b'"offers":[]')  # the first: only plain values come before it
    if pieces is None or split < 0:
        return _json(answer)
    before, between, after = pieces
    written = [first]
    for offer in offers[1:]:
        if _same_but_own(offer, offers[0]):
            written.append(before + _json(offer.meta) + between + _json(offer.schedule) + after)
        else:
            written.append(_json(offer))
    return head[:split + 10] + b",".join(written) + head[split + 10:]
