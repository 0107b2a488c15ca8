"""Telling a site's agents what became of their offers: LAUNCH, RELEASE, CANCEL, durably (JetStream)."""

from __future__ import annotations

from nats.js import JetStreamContext

from . import contracts as c
from .jetstream import publish
from .store.lifecycle import Target


class Commands:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def send(self, target: Target, action: c.Action, reason: str | None = None) -> None:
        command = c.SessionCommand(session=target.uuid, action=action, reason=reason,
                                   offer=target.offer if action is c.Action.LAUNCH else None)
        await publish(self.js, c.command_subject(target.site), command, command.msg_id)

    async def launch(self, target: Target) -> None:
        await self.send(target, c.Action.LAUNCH)

    async def release(self, target: Target, reason: str) -> None:
        await self.send(target, c.Action.RELEASE, reason)

    async def cancel(self, target: Target, reason: str) -> None:
        await self.send(target, c.Action.CANCEL, reason)
