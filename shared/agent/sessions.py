"""The session state machine every platform agent runs: accepted offers become platform sessions,
driven WAITING -> PREPARING -> AVAILABLE -> RUNNING -> RELEASING -> COMPLETED (or FAILED/CANCELLED).

Commands arrive on the site's durable JetStream consumer and are acknowledged only once recorded
in the site's key-value bucket, and each phase change is published to the events stream before
it counts, so neither a restart of this agent nor of anything else loses a session.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, Field, ValidationError

from .. import contracts as c
from ..jetstream import publish
from ..model import (
    ExecutionSession,
    Message,
    Phase,
    RucioDataResource,
    SkaoDataResource,
    error,
    info,
    is_before,
    parse_duration,
)
from ..capacity import CapacityLedger
from ..platform import Platform, RunState

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


class SessionDriver:
    def __init__(self, nc: Client, site: str, agent: str, platform: Platform, ledger: CapacityLedger,
                 poll: float, grace: float) -> None:
        self.nc, self.site, self.agent, self.platform, self.ledger = nc, site, agent, platform, ledger
        self.poll, self.grace = poll, grace
        self.js: JetStreamContext = nc.jetstream()
        self.kv: KeyValue | None = None
        self._tasks: dict[UUID, asyncio.Task] = {}
        self._cancel: dict[UUID, asyncio.Event] = {}
        self._sub = None

    async def start(self) -> None:
        bucket = c.sessions_bucket(self.site)
        try:
            self.kv = await self.js.key_value(bucket)
        except BucketNotFoundError:
            self.kv = await self.js.create_key_value(bucket=bucket, history=1)
        for key in await self._keys():
            entry = await self.kv.get(key)
            record = SessionRecord.model_validate_json(entry.value)
            log.info("resuming session %s in %s", record.session, record.phase)
            self.ledger.confirm(record.session)
            self._drive(record)
        consumer = c.agent_consumer(self.site)
        self._sub = await self.js.subscribe(c.command_subject(self.site), durable=consumer, queue=consumer,
                                            cb=self._on_command, manual_ack=True)

    async def _keys(self) -> list[str]:
        try:
            return await self.kv.keys()
        except Exception:  # nats-py raises NoKeysError on an empty bucket
            return []

    async def stop(self) -> None:
        """Stop driving (the records stay in the bucket: a restart resumes them)."""
        if self._sub is not None:
            await self._sub.unsubscribe()
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

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
            self.ledger.release(uuid)
        elif command.action is c.Action.LAUNCH:
            if uuid in self._tasks or await self._load(uuid) is not None:
                return  # a repeat: already ours
            record = SessionRecord(session=uuid, offer=command.offer)
            await self._save(record)
            self.ledger.confirm(uuid)
            self._drive(record)
        elif command.action is c.Action.CANCEL:
            record = await self._load(uuid)
            if record is None:  # never launched here (or already over): nothing runs, free the hold
                self.ledger.release(uuid)
                return
            record.cancel = True
            await self._save(record)
            self._cancel.setdefault(uuid, asyncio.Event()).set()

    def _drive(self, record: SessionRecord) -> None:
        self._cancel.setdefault(record.session, asyncio.Event())
        task = asyncio.create_task(self._run(record))
        self._tasks[record.session] = task
        task.add_done_callback(lambda _: self._tasks.pop(record.session, None))

    async def _run(self, rec: SessionRecord) -> None:
        try:
            await self._lifecycle(rec)
        except _Stop:
            pass
        except asyncio.CancelledError:
            raise  # the agent is stopping: the record stays for the next start
        except Exception as exc:  # a bug must not leave the session hanging in a live phase
            log.exception("session %s failed in the agent", rec.session)
            await self._end(rec, Phase.FAILED, error("The agent failed: {reason}", reason=repr(exc)))
            return
        self.ledger.release(rec.session)
        await self.kv.delete(str(rec.session))
        self._cancel.pop(rec.session, None)

    async def _lifecycle(self, rec: SessionRecord) -> None:
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
                rec.platform_id = await self._retry(rec, lambda: self.platform.launch(rec.offer))
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
                    await self.platform.cancel(rec.platform_id)
                    await self._end(rec, Phase.FAILED, error(
                        "The platform session stayed pending past its offered start {start}",
                        start=rec.available_at.isoformat()))
            elif status.state is RunState.RUNNING:
                if status.detail == "Terminating":
                    await self._emit(rec, Phase.RELEASING)
                elif is_before(rec.phase, Phase.RUNNING):
                    await self._emit(rec, Phase.AVAILABLE, access=status.access)
                    await self._emit(rec, Phase.RUNNING, access=status.access)
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
                await self._emit(rec, Phase.PREPARING, info("The data is here ({ok}/{total} locks OK)",
                                                            ok=progress.ok, total=progress.total))
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
            except _Stop:
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
        try:
            entry = await self.kv.get(str(uuid))
        except KeyNotFoundError:
            return None
        return SessionRecord.model_validate_json(entry.value) if entry.value else None

    async def _save(self, rec: SessionRecord) -> None:
        await self.kv.put(str(rec.session), rec.model_dump_json().encode())

