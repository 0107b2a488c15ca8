"""Merge the sites' answers into one OfferSet outcome: soonest-available offers first, reasons for every NO."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from srcnet_eb.shared.model import ExecutionSession, Message, Result, info, parse_duration, warn

from .gather import Gathered

_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass
class Outcome:
    result: Result
    messages: list[Message] = field(default_factory=list)
    offers: list[tuple[ExecutionSession, str]] = field(default_factory=list)  # (offer, agent)
    answered: list[str] = field(default_factory=list)  # the sites that answered, YES or NO


def available_at(offer: ExecutionSession) -> datetime:
    """When the session is ready for the client: the end of PREPARING (staging included)."""
    block = offer.schedule.preparing
    if not block or not block.start:
        return _FAR
    return block.start + (parse_duration(block.duration) if block.duration else timedelta(0))


def merge(got: Gathered, timeout: float) -> Outcome:
    messages: list[Message] = []
    offers: list[tuple[ExecutionSession, str]] = []
    busy = got.busy
    for site in sorted(got.answers):
        answer = got.answers[site]
        messages.extend(answer.messages)
        offers.extend((offer, answer.agent) for offer in answer.offers)
        if site in busy:  # it did answer, in time: only too busy to judge this request now
            messages.append(warn("Site {site} ({platform}) is busy and did not judge this request; ask again",
                                 site=site, platform=answer.platform))
            continue
        messages.append(
            info("Site {site} ({platform}) answered {result} with {count} offer(s)",
                 site=site, platform=answer.platform, result=answer.result, count=len(answer.offers))
        )
    for site in sorted(got.silent):
        messages.append(warn("Site {site} did not answer within {timeout}s", site=site, timeout=timeout))
    for site in sorted(got.unreachable):
        messages.append(warn("Site {site} has no agent listening", site=site))
    for site, reason in sorted(got.invalid.items()):
        messages.append(warn("Site {site} sent an unreadable answer: {reason}", site=site, reason=reason))
    offers.sort(key=lambda pair: (available_at(pair[0]), pair[0].site.name if pair[0].site else ""))
    return Outcome(Result.YES if offers else Result.NO, messages, offers, sorted(got.answers))
