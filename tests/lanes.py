"""What the SQLite and PostgreSQL lane tests share: one scenario run by the lane and by SQLAlchemy."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from srcnet_eb.shared.model import ExecutionRequest, ExecutionSession, Phase, Result
from srcnet_eb.shared.store import Store
from srcnet_eb.shared.store.lifecycle import SessionLifecycle


async def expire_both_ways(store: Store, request: Callable[[], ExecutionRequest],
                           offer: Callable[[datetime, str], ExecutionSession],
                           collect: Callable[[uuid.UUID, ExecutionSession], Awaitable[Any]]) -> dict[str, Any]:
    """An OfferSet of one offer past its expiry and one live, swept by the lane's path and by SQLAlchemy's:
    each moves the due one only, with one EXPIRED event; `collect(offerset, due)` says what each stored."""
    past = datetime.now(UTC) - timedelta(minutes=10)  # expired five minutes ago
    stored = {}
    for name, sessions in (("lane", store.sessions), ("sqlalchemy", SessionLifecycle(store.engine))):
        oid = uuid.uuid4()
        await store.offersets.add(oid, request(), owner="alice")
        due, live = offer(past, "site-a"), offer(datetime.now(UTC), "site-b")
        await store.offersets.complete(oid, Result.YES, [], [(due, "agent-1"), (live, "agent-2")])
        assert await sessions.expire_due(source="sweep") == 1
        assert await sessions.expire_due(source="sweep") == 0
        assert (await store.sessions.get(due.meta.uuid)).phase is Phase.EXPIRED
        assert (await store.sessions.get(live.meta.uuid)).phase is Phase.OFFERED
        history = await store.sessions.history(due.meta.uuid)
        assert [(e.phase, e.messages) for e in history] == [(Phase.EXPIRED, ())]
        stored[name] = await collect(oid, due)
    return stored
