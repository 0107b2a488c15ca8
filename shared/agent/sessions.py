"""The session state machine every platform agent runs: accepted offers become platform sessions,
driven WAITING -> PREPARING -> AVAILABLE -> RUNNING -> RELEASING -> COMPLETED (or FAILED/CANCELLED).

Commands arrive on the site's durable JetStream consumer and are acknowledged only once recorded
in the site's key-value bucket, and each phase change is published to the events stream before
it counts, so neither a restart of this agent nor of anything else loses a session.

A site may run several replicas: each session is driven by exactly one, the holder of its lease in
the bucket (see leases.py); a replica that dies has its sessions taken over by another.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from pydantic import BaseModel, Field, ValidationError

from .. import contracts as c
from ..jetstream import publish, subscribe_commands
from ..model import (
    FINAL_PHASES,
    ExecutionSession,
    Message,
    Phase,
    RucioDataResource,
    SimpleComputeResource,
    SkaoDataResource,
    error,
    info,
    is_before,
    parse_duration,
)
from ..buckets import open_bucket
from ..capacity import Demand, Reservation
from ..capacity.ledger import SharedLedger
from ..platform import Platform, RunState
from .leases import Leases, Lost

log = logging.getLogger(__name__)


class SessionRecord(BaseModel):
    """What the agent keeps about one accepted session, in the site's KV bucket."""

    session: UUID
    offer: ExecutionSession
    phase: Phase = Phase.ACCEPTED
    platform_id: str | None = None
    rules: list[str] = Field(default_factory=list)
    cancel: bool = False

    @property
    def available_at(self) -> datetime:
        block = self.offer.schedule.preparing
        return block.start + parse_duration(block.duration)

    @property
    def ends_at(self) -> datetime:
        return self.available_at + parse_duration(self.offer.schedule.available.duration)

    def reservation(self) -> Reservation:
        """The capacity it takes, firm: from the start of preparation to the end of release."""
        schedule, compute = self.offer.schedule, self.offer.compute
        end = schedule.releasing.start + parse_duration(schedule.releasing.duration or "PT0S")
        demand = Demand()
        if isinstance(compute, SimpleComputeResource):
            demand = Demand((compute.cores and compute.cores.min) or 0, (compute.memory and compute.memory.min) or 0,
                            compute.gpus().min or 0)
        return Reservation(self.session, schedule.preparing.start, end, demand, None)

    def dids(self) -> list[str]:
        out = []
        for item in self.offer.data:
            if isinstance(item, RucioDataResource):
                out.append(f"{item.rucio.scope}:{item.rucio.object}")
            elif isinstance(item, SkaoDataResource):
                out.append(f"{item.skao.namespace}:{item.skao.objectname}")
        return out


class _Stop(Exception):
    """The session ended (any final phase): leave the loop."""


def _ask_cancel(record: SessionRecord) -> bool:
    if record.cancel:
        return False
    record.cancel = True
    return True


class SessionDriver:
    def __init__(self, nc: Client, site: str, agent: str, platform: Platform, ledger: SharedLedger,
                 poll: float, grace: float, *, lease: float = 10.0, renew: float = 3.0, retention: float = 600.0,
                 replicas: int = 1) -> None:
        self.nc, self.site, self.agent, self.platform, self.ledger = nc, site, agent, platform, ledger
        self.poll, self.grace = poll, grace
        self.lease, self.renew, self.retention, self.replicas = lease, renew, retention, replicas
        self.js: JetStreamContext = nc.jetstream()
        self.kv: KeyValue | None = None
        self.leases: Leases[SessionRecord] | None = None
        self._tasks: dict[UUID, asyncio.Task] = {}
        self._records: dict[UUID, SessionRecord] = {}  # the sessions this replica drives
        self._cancel: dict[UUID, asyncio.Event] = {}
        self._sub = None

    async def start(self) -> None:
        """Take up the sessions nobody drives (a restart: ours, once their leases lapse), then commands."""
        self.kv = await open_bucket(self.js, c.sessions_bucket(self.site), self.replicas)
        self.leases = Leases(self.kv, SessionRecord, self.agent, lease=self.lease, renew=self.renew,
                             retention=self.retention)
        await self.leases.start(claimed=self._claimed, lost=self._lost, merge=self._merge)
        self._sub = await subscribe_commands(self.nc, self.site, self._on_command)

    async def stop(self) -> None:
        """Stop driving; the records stay in the bucket, their leases handed back for another replica (or
        this one restarted) to take up."""
        if self._sub is not None:
            await self._sub.unsubscribe()
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self.leases is not None:
            await self.leases.stop()

    def _claimed(self, key: str, record: SessionRecord) -> None:
        log.info("driving session %s from %s", record.session, record.phase)
        self._drive(record)

    def _lost(self, key: str) -> None:
        task = self._tasks.get(UUID(key))
        if task is not None and task is not asyncio.current_task():
            task.cancel()  # another replica drives it now: no further action here

    def _merge(self, mine: SessionRecord, theirs: SessionRecord) -> None:
        """Another replica recorded a CANCEL it received for a session this one drives."""
        if theirs.cancel and not mine.cancel:
            mine.cancel = True
        if mine.cancel:
            self._cancel.setdefault(mine.session, asyncio.Event()).set()

    async def _on_command(self, msg: Msg) -> None:
        try:
            command = c.SessionCommand.model_validate_json(msg.data)
        except ValidationError:
            log.error("unreadable session command dropped: %r", msg.data[:200])
            await msg.term()
            return
        try:
            await self.handle(command)
        except Exception:
            log.exception("command %s for %s failed; it will come again", command.action, command.session)
            await msg.nak(delay=1)
            return
        await msg.ack()

    async def handle(self, command: c.SessionCommand) -> None:
        uuid = command.session
        if command.action is c.Action.RELEASE:
            await self.ledger.release(uuid)
        elif command.action is c.Action.LAUNCH:
            if uuid in self._tasks:
                return  # a repeat: driven here
            record = SessionRecord(session=uuid, offer=command.offer)
            # Creating the entry is the claim: of a LAUNCH delivered twice (to two replicas) one wins.
            if not await self.leases.create(str(uuid), record):
                return  # a repeat: some replica drives (or drove) it
            self._drive(record)
        elif command.action is c.Action.CANCEL:
            await self._ask_to_cancel(uuid)

    async def _ask_to_cancel(self, uuid: UUID) -> None:
        record = self._records.get(uuid)
        if record is not None:  # driven here
            record.cancel = True
            try:
                await self._save(record)
                self._cancel.setdefault(uuid, asyncio.Event()).set()
                return
            except Lost:
                pass  # taken over meanwhile: record it for the new holder
        if await self.leases.request(str(uuid), _ask_cancel) is None:
            await self.ledger.release(uuid)  # never launched (or long over): nothing runs, free the hold

    def _drive(self, record: SessionRecord) -> None:
        self._cancel.setdefault(record.session, asyncio.Event())
        self._records[record.session] = record
        task = asyncio.create_task(self._run(record))
        self._tasks[record.session] = task
        task.add_done_callback(lambda done: self._done(record.session, done))

    def _done(self, uuid: UUID, task: asyncio.Task) -> None:
        self._tasks.pop(uuid, None)
        self._records.pop(uuid, None)
        self._cancel.pop(uuid, None)
        if not task.cancelled() and task.exception() is not None:  # not even FAILED could be recorded
            log.error("driving session %s broke: %r; it is taken up again once its lease lapses",
                      uuid, task.exception())
            self.leases.forget(str(uuid))

    async def _run(self, rec: SessionRecord) -> None:
        try:
            try:
                # Firm in the shared ledger: accepted (or taken over); put back if its hold had lapsed.
                await self._retry(rec, lambda: self.ledger.confirm(rec.session, rec.reservation()))
                await self._lifecycle(rec)
            except (_Stop, Lost):
                raise
            except Exception as exc:  # a bug must not leave the session hanging in a live phase
                log.exception("session %s failed in the agent", rec.session)
                await self._end(rec, Phase.FAILED, error("The agent failed: {reason}", reason=repr(exc)))
        except _Stop:
            pass
        except Lost:
            return  # another replica drives it now; nothing more here
        # (CancelledError goes up: the agent is stopping, the record stays for a replica to take up.)
        await self._settle(rec)

    async def _settle(self, rec: SessionRecord) -> None:
        """The session is over: free its capacity, keep its record a while, ended (no lease)."""
        delay = 0.2
        while True:
            try:
                await self.ledger.release(rec.session)
                await self.leases.finish(str(rec.session), rec)
                return
            except Lost:
                return
            except Exception as exc:  # NATS away: the end waits rather than being forgotten
                log.warning("session %s: end not recorded: %r; retrying", rec.session, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _lifecycle(self, rec: SessionRecord) -> None:
        if rec.phase in FINAL_PHASES:  # its end was published, not yet settled (the replica died): settle it
            raise _Stop
        if rec.cancel:
            await self._cancelled(rec)
        if rec.phase is Phase.ACCEPTED:
            await self._emit(rec, Phase.WAITING)
        if rec.phase is Phase.WAITING:
            await self._sleep_until(rec, rec.offer.schedule.preparing.start)
            await self._emit(rec, Phase.PREPARING)
        if rec.phase is Phase.PREPARING:
            if rec.dids():
                await self._stage(rec)
            if rec.platform_id is None:
                await self._save(rec)  # renews the lease: still ours right before the platform acts
                # A platform that keeps refusing (image withdrawn, a session limit) fails it, as a pending one would.
                rec.platform_id = await self._retry(rec, lambda: self.platform.launch(rec.offer),
                                                    rec.available_at + timedelta(seconds=self.grace))
                await self._save(rec)
                await self._emit(rec, Phase.PREPARING, info("Platform session {id} created", id=rec.platform_id))
        await self._follow(rec)

    async def _follow(self, rec: SessionRecord) -> None:
        extended = False
        while True:
            if self._cancel[rec.session].is_set():
                await self._cancelled(rec)
            status = await self._retry(rec, lambda: self.platform.status(rec.platform_id))
            now = datetime.now(UTC)
            if status.state is RunState.PENDING:
                if now > rec.available_at + timedelta(seconds=self.grace):
                    await self._save(rec)  # still ours
                    await self.platform.cancel(rec.platform_id)
                    await self._end(rec, Phase.FAILED, error(
                        "The platform session stayed pending past its offered start {start}",
                        start=rec.available_at.isoformat()))
            elif status.state is RunState.STOPPING:
                if rec.phase is not Phase.RELEASING:
                    await self._emit(rec, Phase.RELEASING)
            elif status.state is RunState.RUNNING:
                if is_before(rec.phase, Phase.RUNNING):
                    access = self._access(rec, status.access)
                    await self._emit(rec, Phase.AVAILABLE, access=access)
                    await self._emit(rec, Phase.RUNNING, access=access)
                if not extended and status.ends and status.ends < rec.ends_at:
                    await self.platform.extend(rec.platform_id, rec.ends_at)
                    extended = True
                if now >= rec.ends_at and rec.phase is not Phase.RELEASING:
                    await self._emit(rec, Phase.RELEASING, info("The offered time is over"))
                    await self.platform.cancel(rec.platform_id)
            elif status.state is RunState.SUCCEEDED:
                await self._emit(rec, Phase.RELEASING)
                await self._end(rec, Phase.COMPLETED)
            elif status.state is RunState.FAILED:
                await self._end(rec, Phase.FAILED, error("The platform session failed: {detail}",
                                                         detail=status.detail or "no reason given"))
            elif status.state is RunState.GONE:
                if rec.phase is Phase.RELEASING:
                    await self._end(rec, Phase.COMPLETED)
                await self._end(rec, Phase.FAILED, error("The platform session {id} vanished", id=rec.platform_id))
            await self._wait(rec, self.poll)

    def _access(self, rec: SessionRecord, urls: list[str]) -> list[str]:
        """The URLs a client opens: the platform's own, or what the platform makes of them for this session."""
        shape = getattr(self.platform, "access_for", None)  # optional part of the port
        return shape(rec.offer, urls) if shape is not None and urls else urls

    async def _stage(self, rec: SessionRecord) -> None:
        """Bring the data to the site (a Rucio rule through the site's data agent) and wait for it."""
        deadline = rec.available_at + timedelta(seconds=self.grace)
        if not rec.rules:
            ask = c.StageRequest(session=rec.session, dids=rec.dids())
            answer = await self._retry(rec, lambda: self._ask(c.stage_subject(self.site), ask, c.StageAnswer), deadline)
            if not answer.rules:
                await self._end(rec, Phase.FAILED, *(answer.messages or [error("No staging rule could be made")]))
            rec.rules = answer.rules
            await self._save(rec)
            await self._emit(rec, Phase.PREPARING, *answer.messages)
        while True:
            progress = await self._retry(rec, lambda: self._ask(
                c.progress_subject(self.site), c.ProgressRequest(rules=rec.rules), c.StageProgress), deadline)
            if progress.state == "OK":
                # The bytes ride on the event as a message value (c.staged_bytes reads it): accounting's figure.
                here = (info("The data is here ({ok}/{total} locks OK), {staged_bytes} bytes", ok=progress.ok,
                             total=progress.total, staged_bytes=progress.bytes) if progress.bytes is not None else
                        info("The data is here ({ok}/{total} locks OK)", ok=progress.ok, total=progress.total))
                await self._emit(rec, Phase.PREPARING, here)
                return
            if progress.state in ("STUCK", "SUSPENDED"):
                await self._end(rec, Phase.FAILED, error("Data staging is {state} ({ok}/{total} locks OK), rules {rules}",
                                                         state=progress.state, ok=progress.ok, total=progress.total,
                                                         rules=", ".join(rec.rules)))
            if datetime.now(UTC) > deadline:
                await self._end(rec, Phase.FAILED, error("The data did not arrive by {deadline} ({ok}/{total} locks OK)",
                                                         deadline=deadline.isoformat(), ok=progress.ok,
                                                         total=progress.total))
            await self._wait(rec, self.poll)

    async def _ask(self, subject: str, question: BaseModel, model: type[BaseModel]):
        reply = await self.nc.request(subject, question.model_dump_json().encode(), timeout=10)
        return model.model_validate_json(reply.data)

    async def _retry(self, rec: SessionRecord, call, deadline: datetime | None = None):
        """Platforms and data agents go away for a while; a session waits for them (or its deadline)."""
        delay = min(self.poll, 1.0)
        while True:
            try:
                return await call()
            except (_Stop, Lost):
                raise
            except Exception as exc:
                log.warning("session %s: %r; retrying", rec.session, exc)
                if deadline is not None and datetime.now(UTC) > deadline:
                    await self._end(rec, Phase.FAILED, error("Gave up at {deadline}: {reason}",
                                                             deadline=deadline.isoformat(), reason=repr(exc)))
                await self._wait(rec, delay)
                delay = min(delay * 2, 30.0)

    async def _wait(self, rec: SessionRecord, seconds: float) -> None:
        """Sleep, but wake at once for a CANCEL."""
        try:
            await asyncio.wait_for(self._cancel[rec.session].wait(), seconds)
        except TimeoutError:
            return
        await self._cancelled(rec)

    async def _sleep_until(self, rec: SessionRecord, when: datetime | None) -> None:
        while when is not None and (left := (when - datetime.now(UTC)).total_seconds()) > 0:
            await self._wait(rec, min(left, 60.0))

    async def _cancelled(self, rec: SessionRecord) -> None:
        if rec.platform_id:
            await self._save(rec)  # still ours
            await self._retry(rec, lambda: self.platform.cancel(rec.platform_id))
        await self._end(rec, Phase.CANCELLED, info("Cancelled; the platform's work is stopped"))

    async def _end(self, rec: SessionRecord, phase: Phase, *messages: Message) -> None:
        await self._emit(rec, phase, *messages)
        raise _Stop

    async def _emit(self, rec: SessionRecord, phase: Phase, *messages: Message, access: list[str] | None = None) -> None:
        """Publish the change (durably) before acting on it; a repeat of a phase only adds its messages."""
        event = c.SessionEvent(session=rec.session, site=self.site, agent=self.agent, phase=phase,
                               messages=list(messages), access=access or [],
                               platform_id=rec.platform_id)
        msg_id = event.msg_id if rec.phase is not phase else f"{event.msg_id}-{event.time.timestamp()}"
        delay = 0.2
        while True:
            try:
                await publish(self.js, c.event_subject(self.site), event, msg_id)
                break
            except Exception as exc:  # NATS away: the session waits rather than forgets
                log.warning("event %s for %s not published: %r", phase, rec.session, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if rec.phase is not phase:
            rec.phase = phase
            await self._save(rec)

    async def _load(self, uuid: UUID) -> SessionRecord | None:
        return await self.leases.get(str(uuid))

    async def _save(self, rec: SessionRecord) -> None:
        """As the holder of its lease (renewing it); Lost if another replica took the session over."""
        await self.leases.save(str(rec.session), rec)

