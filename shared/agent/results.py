"""Putting a session's results where its request says, at RELEASING: the agent asks the site's data agent
(which holds the site's Rucio and S3 credentials) to deliver the platform's output folder, asks again until
it is done, and says how it is going on the session; and the words for each step."""

from __future__ import annotations

from .. import contracts as c
from ..model import ExecutionSession, Message, SimpleStorageResource, error, info
from .staging import DataDesk


class ResultsDesk(DataDesk):
    """The site's data agent, as a session driver asks it to deliver results."""

    async def deliver(self, question: c.DeliverRequest) -> c.DeliverAnswer:
        return await self._ask(c.deliver_subject(self.site), question, c.DeliverAnswer)


def targets(offer: ExecutionSession) -> list[c.DeliveryTarget]:
    """Every storage resource of the offer that names a destination."""
    return [c.DeliveryTarget(field=f"storage[{i}].destination", storage=item.meta.name or f"storage[{i}]",
                             destination=item.destination)
            for i, item in enumerate(offer.storage)
            if isinstance(item, SimpleStorageResource) and item.destination is not None]


def where(wanted: list[c.DeliveryTarget]) -> str:
    return "; ".join(f"{t.field}: {t.destination.describe()}" for t in wanted)


def uploading(folder: str, wanted: list[c.DeliveryTarget]) -> Message:
    return info("Uploading the results in {folder} to {destinations}", folder=folder, destinations=where(wanted))


def progress(answer: c.DeliverAnswer) -> Message:
    return info("Uploading the results: {files}/{total} files, {delivered_bytes} bytes", files=answer.files,
                total=answer.total, delivered_bytes=answer.bytes)


def delivered(answer: c.DeliverAnswer) -> Message:
    return info("Results delivered: {files} files, {delivered_bytes} bytes, at {locations}", files=answer.files,
                delivered_bytes=answer.bytes, locations=", ".join(r.location for r in answer.results) or "nowhere")


def undelivered(answer: c.DeliverAnswer | None, folder: str | None, reason: str | None = None) -> Message:
    """Why the session FAILED though its work succeeded: the results are not where the request said."""
    said = reason or "; ".join(m.message for m in (answer.messages if answer else [])) or "no reason given"
    if folder is None:
        return error("The results could not be delivered ({reason})", reason=said)
    return error("The results could not be delivered ({reason}); they stay at the site in {folder}",
                 reason=said, folder=folder)
