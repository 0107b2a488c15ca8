"""Bringing a session's data to the site before it starts: the agent asks the site's data agent (NATS
request/reply) for staging rules (Rucio's, and copies of S3 data), then for their progress; and what that progress means to a session."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from nats.aio.client import Client
from pydantic import BaseModel

from .. import contracts as c
from ..model import Message, error, info
from ..model.data import Did, S3DataResource
from ..tracing import publishing

A = TypeVar("A", bound=BaseModel)


class DataDesk:
    """The site's data agent, as a session driver asks it."""

    def __init__(self, nc: Client, site: str, timeout: float = 10.0) -> None:
        self.nc, self.site, self.timeout = nc, site, timeout

    async def stage(self, session: UUID, dids: list[Did], objects: list[S3DataResource] | None = None) -> c.StageAnswer:
        request = c.StageRequest(session=session, dids=dids, objects=objects or [])
        return await self._ask(c.stage_subject(self.site), request, c.StageAnswer)

    async def progress(self, rules: list[str]) -> c.StageProgress:
        return await self._ask(c.progress_subject(self.site), c.ProgressRequest(rules=rules), c.StageProgress)

    async def _ask(self, subject: str, question: BaseModel, answer: type[A]) -> A:
        with publishing(subject) as headers:
            reply = await self.nc.request(subject, question.model_dump_json().encode(), timeout=self.timeout,
                                          headers=headers)
        return answer.model_validate_json(reply.data)


def arrived(progress: c.StageProgress) -> Message:
    """The words for people on the event saying the data is here (the bytes also ride as a number)."""
    if progress.bytes is None:
        return info("The data is here ({ok}/{total} locks OK)", ok=progress.ok, total=progress.total)
    return info("The data is here ({ok}/{total} locks OK), {staged_bytes} bytes", ok=progress.ok,
                total=progress.total, staged_bytes=progress.bytes)


def failure(progress: c.StageProgress, rules: list[str], deadline: datetime) -> Message | None:
    """Why staging that is not done yet has failed the session, if it has."""
    if progress.state in ("STUCK", "SUSPENDED"):
        return error("Data staging is {state} ({ok}/{total} locks OK), rules {rules}", state=progress.state,
                     ok=progress.ok, total=progress.total, rules=", ".join(rules))
    if datetime.now(UTC) > deadline:
        return error("The data did not arrive by {deadline} ({ok}/{total} locks OK)", deadline=deadline.isoformat(),
                     ok=progress.ok, total=progress.total)
    return None
