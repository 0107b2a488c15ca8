"""The opaque cursor of a list's `next` page: where the last page ended, as urlsafe base64 of JSON.

Opaque to clients (they follow `next`), checked when read back: a cursor that is not one of ours, or is
another list's, is a 422 naming `cursor`, never a 500."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from uuid import UUID

from srcnet_eb.shared.store.listing import Position


def encode(listing: str, position: Position) -> str:
    data = {"l": listing, "c": position.created.isoformat(), "u": position.uuid}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode(listing: str, cursor: str) -> Position:
    """ValueError with the reason when `cursor` is not a cursor of this list."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not a cursor this broker gave (use the list's `next` URL)") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("l", "c", "u")):
        raise ValueError("not a cursor this broker gave (use the list's `next` URL)")
    if data["l"] != listing:
        raise ValueError(f"a cursor of another list ({data['l'][:32]}), not of {listing}")
    try:
        created = datetime.fromisoformat(data["c"])
        if created.tzinfo is None:
            raise ValueError("no time zone")
        return Position(created.astimezone(UTC), str(UUID(data["u"])))
    except (ValueError, OverflowError) as exc:
        raise ValueError("not a cursor this broker gave (use the list's `next` URL)") from exc
