"""Telling the sites what a client's (or `POST /direct`'s) decision on a session means for them; the one
path after an accept, reject or cancel has been recorded in the database, for the gateway and the planner."""

from __future__ import annotations

from .commands import Commands
from .model import Phase
from .store import Store
from .store.lifecycle import Changed


async def tell_sites(commands: Commands, store: Store, changed: Changed, phase: Phase) -> None:
    """LAUNCH an accepted session (then mark it handed over), CANCEL a live one, RELEASE the rest and every
    sibling an accept rejected. Raises if NATS cannot take it: the database holds the decision, the
    planner's sweep re-sends LAUNCH and offers' holds lapse at their expiry."""
    target = changed.session
    if phase is Phase.ACCEPTED:
        await commands.launch(target)
        await store.sessions.handed_over(target.uuid)
    elif phase is Phase.CANCELLED and target.phase is not Phase.OFFERED:
        await commands.cancel(target, "cancelled by the client")
    else:
        await commands.release(target, f"{phase.lower()} by the client")
    for sibling in changed.released:
        await commands.release(sibling, "another offer was accepted")
