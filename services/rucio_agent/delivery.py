"""The data agent's deliveries of results (`data.deliver`): a session's output folder put at every storage
destination of its request, one after another, on a thread (the Rucio and S3 clients block).

One delivery per session, keyed by its uuid: the driver's question starts it and, asked again, is answered
with how it is going. A delivery that finished is remembered a while (`results_retention`), so a repeated
question is answered, not done again; after a restart of this agent it is done again, which is safe (the
Rucio upload skips what is registered, an S3 put writes the same bytes). A failure is answered once, with
whether asking again may help (the destination was unreachable) or not (it refused); asked again after
that, the delivery starts again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.model import Message, error
from srcnet_eb.shared.model.results import ResultLocation, RucioDestination, S3Destination

from . import s3_results
from .outputs import OutFile, listed
from .settings import RucioSettings

if TYPE_CHECKING:
    from srcnet_eb.services.s3_data.site import S3Site

    from .catalog import RucioCatalog

log = logging.getLogger(__name__)


class Refused(Exception):
    """This destination will not take the results: asking again will not help."""


@dataclass
class Delivery:
    question: c.DeliverRequest
    state: c.DeliveryState = c.DeliveryState.WORKING
    files: int = 0
    total: int = 0
    bytes: int = 0
    results: list[ResultLocation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    retry: bool = False
    ended: float | None = None  # monotonic, once DONE or FAILED
    task: asyncio.Task | None = None

    def answer(self) -> c.DeliverAnswer:
        return c.DeliverAnswer(session=self.question.session, state=self.state, files=self.files, total=self.total,
                               bytes=self.bytes, results=self.results, messages=self.messages, retry=self.retry)


class Deliveries:
    def __init__(self, settings: RucioSettings, catalog: RucioCatalog | None, s3: S3Site | None) -> None:
        """`catalog`: its Rucio clients upload (one per thread, logged in once); `s3`: the data agent's S3 site,
        whose endpoints' clients put (None: S3 not configured)."""
        self.settings, self.catalog, self.site = settings, catalog, settings.site
        self.s3 = s3_results.S3Clients(settings, s3)
        self._jobs: dict[object, Delivery] = {}

    async def ask(self, question: c.DeliverRequest) -> c.DeliverAnswer:
        self._forget_old()
        job = self._jobs.get(question.session)
        if job is None:
            job = self._jobs[question.session] = Delivery(question)
            job.task = asyncio.create_task(self._run(job))
        answer = job.answer()
        if job.state is c.DeliveryState.FAILED:
            del self._jobs[question.session]  # answered once: asked again, it starts again
        return answer

    def _forget_old(self) -> None:
        now = time.monotonic()
        for key in [k for k, j in self._jobs.items() if j.ended and now - j.ended > self.settings.results_retention]:
            del self._jobs[key]

    async def _run(self, job: Delivery) -> None:
        folder = Path(job.question.directory)
        try:
            files = await asyncio.to_thread(listed, folder) if folder.is_dir() else None
            if files is None:
                raise Refused(f"the results folder {folder} is not on this data agent's file system")
            job.total = len(files) * len(job.question.targets)
            for target in job.question.targets:
                try:
                    job.results += await self._one(job, target, files)
                except Exception as exc:
                    job.retry = not isinstance(exc, Refused) and _passing(exc)
                    job.messages = [error("{site}: {field}: {destination}: {reason}", site=self.site,
                                          field=target.field, destination=target.destination.describe(),
                                          reason=_reason(exc))]
                    log.warning("delivery of %s to %s failed (%s): %r", job.question.session, target.field,
                                "will retry" if job.retry else "refused", exc)
                    job.state = c.DeliveryState.FAILED
                    return
            job.state = c.DeliveryState.DONE
        except Exception as exc:  # the folder: nothing any destination could change
            job.messages = [error("{site}: {reason}", site=self.site, reason=_reason(exc))]
            job.state = c.DeliveryState.FAILED
        finally:
            job.ended = time.monotonic()

    async def _one(self, job: Delivery, target: c.DeliveryTarget, files: list[OutFile]) -> list[ResultLocation]:
        loop = asyncio.get_running_loop()

        def done(file: OutFile) -> None:  # on the upload's thread: counted on the loop's
            loop.call_soon_threadsafe(_count, job, file)

        destination, session = target.destination, job.question.session
        if isinstance(destination, RucioDestination):
            if self.catalog is None:
                raise Refused("this site's data agent has no Rucio (EB_RUCIO_HOST)")
            from . import rucio_results

            catalog = self.catalog

            def upload() -> list[ResultLocation]:
                try:
                    return rucio_results.deliver(catalog.client(), files, destination, target.storage, session,
                                                 self.settings, done)
                except Exception:
                    catalog.drop_client()  # a broken session or expired token: this thread starts afresh
                    raise

            return await asyncio.to_thread(upload)
        if isinstance(destination, S3Destination):
            endpoint = destination.endpoint or s3_results.default_endpoint(self.settings)
            if endpoint is None:
                raise Refused("no endpoint, and this site has no S3 of its own (EB_RESULTS_S3_ENDPOINT)")
            return await asyncio.to_thread(lambda: s3_results.deliver(
                self.s3.client(endpoint), endpoint, files, destination, target.storage, done))
        raise Refused(f"cannot deliver to {destination.kind}")


def _count(job: Delivery, file: OutFile) -> None:
    job.files += 1
    job.bytes += file.bytes


def _passing(exc: BaseException) -> bool:
    """Whether the failure may pass (the destination unreachable, busy) rather than be a refusal."""
    names = {type(e).__name__ for e in _chain(exc)}
    if names & {"S3Refused", "AccessDenied", "RSENotFound", "ScopeNotFound", "ScopeAccessDenied", "RSEAccessDenied",
                "InputValidationError", "RSEWriteBlocked", "RSEOverQuota", "CannotAuthenticate", "CannotAuthorize",
                "InvalidObject", "UnsupportedOperation", "FileNotFoundError", "PermissionError",
                "ModuleNotFoundError"}:
        return False
    return True  # unreachable, timed out, a 5xx, an upload that did not complete: worth asking again


def _chain(exc: BaseException) -> list[BaseException]:
    out, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
