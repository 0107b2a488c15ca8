"""The session lifecycle's rules, in one place: the phases, which may follow which, and what a client
may ask for in each. The store (compare-and-set on the phase), the gateway (which updates it accepts)
and the agents' driver (which phase it reports next) all decide from here, so they cannot disagree.

OFFERED -> ACCEPTED (or REJECTED, EXPIRED) -> WAITING -> PREPARING -> AVAILABLE -> RUNNING -> RELEASING
-> COMPLETED; FAILED and CANCELLED end a session in any phase before its end.
"""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    PROPOSED = "PROPOSED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    WAITING = "WAITING"
    PREPARING = "PREPARING"
    AVAILABLE = "AVAILABLE"
    READY = "READY"  # older name of AVAILABLE
    RUNNING = "RUNNING"
    RELEASING = "RELEASING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL_PHASES = frozenset({Phase.REJECTED, Phase.EXPIRED, Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})

# The way forward through the live phases; a session may skip some but never goes back.
LIVE_ORDER = (Phase.OFFERED, Phase.ACCEPTED, Phase.WAITING, Phase.PREPARING, Phase.AVAILABLE, Phase.READY,
              Phase.RUNNING, Phase.RELEASING)
_RANK = {p: i for i, p in enumerate(LIVE_ORDER)}

# Accepted and not yet ended: the sessions an agent runs.
LIVE_PHASES = frozenset(LIVE_ORDER[1:])
# What CANCELLED may follow: an offer, or a session not yet ended.
CANCELLABLE_PHASES = LIVE_PHASES | {Phase.OFFERED}
# The platform's work is in use (accounting counts core-hours from the first of these).
IN_USE_PHASES = frozenset({Phase.AVAILABLE, Phase.READY, Phase.RUNNING})
# Phases of an offer that never became a session.
NEVER_ACCEPTED_PHASES = frozenset({Phase.OFFERED, Phase.PROPOSED, Phase.REJECTED, Phase.EXPIRED})
# The phases a client may ask for (POST /sessions/{uuid}); the rest are the agents' to report.
CLIENT_PHASES = (Phase.ACCEPTED, Phase.REJECTED, Phase.CANCELLED)


def is_before(phase: Phase, other: Phase) -> bool:
    """Does `phase` come before `other` on the way forward (final phases come after every live one)?"""
    return _RANK.get(phase, len(LIVE_ORDER)) < _RANK.get(other, len(LIVE_ORDER))


def client_choices(phase: Phase) -> tuple[Phase, ...]:
    """The phases a client may move a session in `phase` to next."""
    if phase is Phase.OFFERED:
        return Phase.ACCEPTED, Phase.REJECTED
    if phase in FINAL_PHASES or phase is Phase.PROPOSED:
        return ()
    return (Phase.CANCELLED,)


def is_report_forward(current: Phase, reported: Phase) -> bool:
    """An agent's report moves a session only forward, never after its end, never from an unaccepted offer."""
    return current not in FINAL_PHASES and current is not Phase.OFFERED and is_before(current, reported)


__all__ = ["CANCELLABLE_PHASES", "CLIENT_PHASES", "FINAL_PHASES", "IN_USE_PHASES", "LIVE_ORDER", "LIVE_PHASES",
           "NEVER_ACCEPTED_PHASES", "Phase", "client_choices", "is_before", "is_report_forward"]
