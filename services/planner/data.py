"""Judge each site's data locality answer: can it run the request, and after how much staging?"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from srcnet_eb.shared.contracts import DataAnswer, Locality
from srcnet_eb.shared.model import Message, warn

from .gather import Gathered


@dataclass
class SiteData:
    eligible: bool
    staging: float = 0.0  # seconds before compute can start
    notes: list[Message] = field(default_factory=list)  # for the site's offers: when and why
    reasons: list[Message] = field(default_factory=list)  # for the OfferSet: why not


def judge(site: str, got: Gathered[DataAnswer] | None, timeout: float) -> SiteData:
    """`got` is None when the site runs no data agent: its locality cannot be known, so no offer."""
    answer = got.answers.get(site) if got is not None else None
    if answer is None:
        if got is not None and site in got.silent:
            why = warn("Site {site}'s data agent did not answer within {timeout}s: data locality unknown",
                       site=site, timeout=timeout)
        else:
            why = warn("Site {site} runs no data agent: data locality unknown", site=site)
        return SiteData(False, reasons=[why])
    if answer.locality is Locality.LOCAL:
        return SiteData(True, 0.0, notes=answer.messages)
    if answer.locality is Locality.STAGE:
        return SiteData(True, float(math.ceil(answer.eta)), notes=answer.messages)
    return SiteData(False, reasons=answer.messages)
