"""Merge the sites' answers into one OfferSet outcome: offers by start time, reasons for every NO."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.model import ExecutionSession, Message, Result, info, warn

from .gather import Gathered

_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass
class Outcome:
    result: Result
    messages: list[Message] = field(default_factory=list)
    offers: list[tuple[ExecutionSession, str]] = field(default_factory=list)  # (offer, agent)


def start_of(offer: ExecutionSession) -> datetime:
    block = offer.schedule.preparing
    return block.start if block and block.start else _FAR


def merge(got: Gathered, timeout: float) -> Outcome:
    messages: list[Message] = []
    offers: list[tuple[ExecutionSession, str]] = []
    for site in sorted(got.answers):
        answer = got.answers[site]
        messages.extend(answer.messages)
        offers.extend((offer, answer.agent) for offer in answer.offers)
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
    offers.sort(key=lambda pair: (start_of(pair[0]), pair[0].site.name if pair[0].site else ""))
    return Outcome(Result.YES if offers else Result.NO, messages, offers)
