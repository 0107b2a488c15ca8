"""Telling a site's agents what became of their offers: LAUNCH, RELEASE, CANCEL, durably (JetStream)."""

from __future__ import annotations

from nats.js import JetStreamContext

from . import contracts as c
from srcnet_eb.shared.nats.channels import sends
from srcnet_eb.shared.nats.jetstream import ensure_commands_consumer, publish
from .store.lifecycle import Target

sends("session-command", c.command_subject("SITE"), c.SessionCommand,
      "LAUNCH/RELEASE/CANCEL to a site's agents (stream EB_SESSION_COMMANDS, durable consumer agent-<site>, "
      "deliver group likewise)")


class Commands:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._consumers: set[str] = set()  # sites whose commands consumer is known to exist

    async def send(self, target: Target, action: c.CommandAction, reason: str | None = None) -> None:
        launch = action is c.CommandAction.LAUNCH
        command = c.SessionCommand(session=target.uuid, action=action, reason=reason,
                                   offer=target.offer if launch else None, owner=target.owner if launch else None)
        if target.site not in self._consumers:  # the site's agents never create it: the central side does
            await ensure_commands_consumer(self.js, target.site)
            self._consumers.add(target.site)
        await publish(self.js, c.command_subject(target.site), command, command.msg_id)

    async def launch(self, target: Target) -> None:
        await self.send(target, c.CommandAction.LAUNCH)

    async def release(self, target: Target, reason: str) -> None:
        await self.send(target, c.CommandAction.RELEASE, reason)

    async def cancel(self, target: Target, reason: str) -> None:
        await self.send(target, c.CommandAction.CANCEL, reason)
