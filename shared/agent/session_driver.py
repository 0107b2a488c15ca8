"""The session state machine every platform agent runs: accepted offers become platform sessions,
driven WAITING -> PREPARING -> AVAILABLE -> RUNNING -> RELEASING -> COMPLETED (or FAILED/CANCELLED).

Commands arrive on the site's durable JetStream consumer and are acknowledged only once recorded
in the site's key-value bucket, and each phase change is published to the events stream before
it counts, so neither a restart of this agent nor of anything else loses a session.

A site may run several replicas: each session is driven by exactly one, the holder of its lease in
the bucket (see leases.py); a replica that dies has its sessions taken over by another.

Beside it: what it keeps per session (session_record.py), how it asks for the data (staging.py),
and how it waits out what goes away (retry.py).

Longer than 300 lines because it is one state machine, kept in one module so its phases read in order.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from .. import contracts as c
from srcnet_eb.shared.nats.buckets import open_bucket
from srcnet_eb.shared.nats.channels import receives
from srcnet_eb.shared.nats.consumer import Delivery, DurableConsumer
from srcnet_eb.shared.nats.jetstream import publish, subscribe_commands
from srcnet_eb.shared.tracing import carried, resumed
from ..capacity.ledger import SharedLedger
from ..model import FINAL_PHASES, Message, Phase, error, info, is_before
from srcnet_eb.shared.platform.port import Platform, RunState, launch_as
from .leases import Leases, Lost
from . import results as out
from .retry import persist
from .session_record import SessionRecord, ask_cancel
from .staging import DataDesk, arrived, failure

log = logging.getLogger(__name__)


class _Stop(Exception):
    """The session ended (any final phase): leave the loop."""


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
        self._withdrawing: set[asyncio.Task] = set()  # RELEASEd offers being withdrawn from the platform
        self.data = DataDesk(nc, site)
        self.results = out.ResultsDesk(nc, site)
        self._commands: DurableConsumer[c.SessionCommand] | None = None

    async def start(self) -> None:
        """Take up the sessions nobody drives (a restart: ours, once their leases lapse), then commands."""
        self.kv = await open_bucket(self.js, c.sessions_bucket(self.site), self.replicas)
        self.leases = Leases(self.kv, SessionRecord, self.agent, lease=self.lease, renew=self.renew,
                             retention=self.retention)
        await self.leases.start(claimed=self._claimed, lost=self._lost, merge=self._merge)
        self._commands = DurableConsumer.of(self.handle, lambda cb: subscribe_commands(self.nc, self.site, cb))
        await self._commands.start()

    async def stop(self) -> None:
        """Stop driving; the records stay in the bucket, their leases handed back for another replica (or
        this one restarted) to take up."""
        if self._commands is not None:
            await self._commands.stop()
        for task in [*self._tasks.values(), *self._withdrawing]:
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *self._withdrawing, return_exceptions=True)
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

    @receives("agent-session-commands", c.command_subject("SITE"), c.SessionCommand)
    async def handle(self, command: c.SessionCommand, delivery: Delivery | None = None) -> None:
        """LAUNCH, RELEASE or CANCEL a session of this site (stream EB_SESSION_COMMANDS, durable consumer
        agent-<site> shared by the site's replicas as its deliver group; acknowledged once recorded in the
        site's sessions bucket)."""
        uuid = command.session
        if command.action is c.CommandAction.RELEASE:
            log.info("offer %s released: %s", uuid, command.reason or "no reason given",
                     extra={"session": str(uuid), "site": self.site})
            await self.ledger.release(uuid)
            self._withdraw(uuid)
        elif command.action is c.CommandAction.LAUNCH:
            if uuid in self._tasks:
                return  # a repeat: driven here
            record = SessionRecord(session=uuid, offer=command.offer, owner=command.owner, trace=carried())
            # Creating the entry is the claim: of a LAUNCH delivered twice (to two replicas) one wins.
            if not await self.leases.create(str(uuid), record):
                return  # a repeat: some replica drives (or drove) it
            self._drive(record)
        elif command.action is c.CommandAction.CANCEL:
            await self._ask_to_cancel(uuid)

    def _withdraw(self, uuid: UUID) -> None:
        """A platform that makes its own offers (a remote broker) lets go of this one now rather than hold it
        there until it expires: in the background (commands are handled in order), best effort."""
        withdraw = getattr(self.platform, "withdraw", None)  # optional part of the port
        if withdraw is not None:
            task = asyncio.create_task(self._withdrawn(withdraw, uuid))
            self._withdrawing.add(task)
            task.add_done_callback(self._withdrawing.discard)

    async def _withdrawn(self, withdraw, uuid: UUID) -> None:
        try:
            await withdraw(uuid)
        except Exception as exc:  # noqa: BLE001 - the offer lapses there at its expiry anyway
            log.warning("could not withdraw offer %s from the platform: %r", uuid, exc,
                        extra={"session": str(uuid), "site": self.site})

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
        if await self.leases.request(str(uuid), ask_cancel) is None:
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
        with resumed(rec.trace):  # taken over from another replica: still in its accept's trace
            await self._drive_in_trace(rec)

    async def _drive_in_trace(self, rec: SessionRecord) -> None:
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

        async def end() -> None:
            await self.ledger.release(rec.session)
            await self.leases.finish(str(rec.session), rec)

        try:  # NATS away: the end waits rather than being forgotten
            await persist(end, f"session {rec.session}: end not recorded", passes=(Lost,))
        except Lost:
            return

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
            if rec.dids() or rec.objects():
                await self._stage(rec)
            if rec.platform_id is None:
                await self._save(rec)  # renews the lease: still ours right before the platform acts
                # A platform that keeps refusing (image withdrawn, a session limit) fails it, as a pending one would.
                rec.platform_id = await self._retry(rec, lambda: launch_as(self.platform, rec.offer, rec.owner),
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
                if rec.phase is not Phase.RELEASING:
                    await self._emit(rec, Phase.RELEASING)
                await self._deliver(rec)
                await self._end(rec, Phase.COMPLETED)
            elif status.state is RunState.FAILED:
                if rec.phase is Phase.RELEASING and now >= rec.ends_at:  # stopped by us, its time over (Slurm: CANCELLED)
                    await self._deliver(rec)
                    await self._end(rec, Phase.COMPLETED)
                await self._end(rec, Phase.FAILED, error("The platform session failed: {detail}",
                                                         detail=status.detail or "no reason given"))
            elif status.state is RunState.GONE:
                if rec.phase is Phase.RELEASING:  # stopped: by us (its time over), or by the platform (STOPPING)
                    await self._deliver(rec)
                    await self._end(rec, Phase.COMPLETED)
                await self._end(rec, Phase.FAILED, error("The platform session {id} vanished", id=rec.platform_id))
            await self._wait(rec, self.poll)

    def _access(self, rec: SessionRecord, urls: list[str]) -> list[str]:
        """The URLs a client opens: the platform's own, or what the platform makes of them for this session."""
        shape = getattr(self.platform, "access_for", None)  # optional part of the port
        return shape(rec.offer, urls) if shape is not None and urls else urls

    async def _stage(self, rec: SessionRecord) -> None:
        """Bring the data to the site (Rucio rules, S3 copies: through the site's data agent) and wait for it."""
        deadline = rec.available_at + timedelta(seconds=self.grace)
        if not rec.rules:
            answer = await self._retry(rec, lambda: self.data.stage(rec.session, rec.dids(), rec.objects()), deadline)
            if not answer.rules:
                await self._end(rec, Phase.FAILED, *(answer.messages or [error("No staging rule could be made")]))
            rec.rules = answer.rules
            await self._save(rec)
            await self._emit(rec, Phase.PREPARING, *answer.messages)
        while True:
            progress = await self._retry(rec, lambda: self.data.progress(rec.rules), deadline)
            if progress.state == "OK":  # the bytes are accounting's figure: a number on the event
                await self._emit(rec, Phase.PREPARING, arrived(progress), staged_bytes=progress.bytes)
                return
            problem = failure(progress, rec.rules, deadline)
            if problem is not None:
                await self._end(rec, Phase.FAILED, problem)
            await self._wait(rec, self.poll)

    async def _deliver(self, rec: SessionRecord) -> None:
        """Its results put where the request's storage destinations say (the site's data agent uploads them),
        before COMPLETED; asked again until done, so a restart of either agent only asks again. Not delivered
        by the end of the release block (plus grace), or refused outright: FAILED, saying where they stay."""
        wanted = out.targets(rec.offer)
        if not wanted or rec.results is not None:
            return
        deadline = rec.released_at + timedelta(seconds=self.grace)
        if rec.outputs is None:
            find = getattr(self.platform, "outputs", None)  # optional part of the port
            folder = await self._retry(rec, lambda: find(rec.platform_id), deadline) if find is not None else None
            if folder is None:
                await self._end(rec, Phase.FAILED, out.undelivered(None, None, reason=(
                    f"this {self.platform.kind} platform keeps no results folder for {rec.platform_id}")))
            rec.outputs = folder
            await self._save(rec)  # recorded before acting: a restart asks again, it does not announce again
            await self._emit(rec, Phase.RELEASING, out.uploading(folder, wanted))
        question = c.DeliverRequest(session=rec.session, directory=rec.outputs, targets=wanted)
        said = (0, 0)
        while True:
            answer = await self._retry(rec, lambda: self.results.deliver(question), deadline)
            if answer.state is c.DeliveryState.DONE:
                rec.results = answer.results
                await self._save(rec)
                await self._emit(rec, Phase.RELEASING, out.delivered(answer), results=answer.results,
                                 delivered_bytes=answer.bytes)
                return
            if answer.state is c.DeliveryState.FAILED and (not answer.retry or datetime.now(UTC) > deadline):
                await self._end(rec, Phase.FAILED, out.undelivered(answer, rec.outputs))
            if answer.state is c.DeliveryState.WORKING and (answer.files, answer.total) != said and answer.files:
                said = (answer.files, answer.total)
                await self._emit(rec, Phase.RELEASING, out.progress(answer))
            await self._wait(rec, min(self.poll, 1.0))

    async def _retry(self, rec: SessionRecord, call, deadline: datetime | None = None):
        """Platforms and data agents go away for a while; a session waits for them (or its deadline)."""
        return await persist(call, f"session {rec.session}", first=min(self.poll, 1.0), cap=30.0,
                             sleep=lambda delay: self._wait(rec, delay), passes=(_Stop, Lost), deadline=deadline,
                             give_up=lambda when, exc: self._end(rec, Phase.FAILED, error(
                                 "Gave up at {deadline}: {reason}", deadline=when.isoformat(), reason=repr(exc))))

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
        else:  # never launched: a platform that made the offer itself lets go of it
            self._withdraw(rec.session)
        await self._end(rec, Phase.CANCELLED, info("Cancelled; the platform's work is stopped"))

    async def _end(self, rec: SessionRecord, phase: Phase, *messages: Message) -> None:
        if phase is Phase.FAILED:  # why, in the agent's log too (the event carries it to the client)
            log.warning("session %s FAILED: %s", rec.session, "; ".join(m.message for m in messages) or "no reason",
                        extra={"session": str(rec.session), "site": self.site, "platform_id": rec.platform_id})
        await self._emit(rec, phase, *messages)
        raise _Stop

    async def _emit(self, rec: SessionRecord, phase: Phase, *messages: Message, access: list[str] | None = None,
                    staged_bytes: int | None = None, results: list | None = None,
                    delivered_bytes: int | None = None) -> None:
        """Publish the change (durably) before acting on it; a repeat of a phase only adds its messages."""
        event = c.SessionEvent(session=rec.session, site=self.site, agent=self.agent, phase=phase,
                               messages=list(messages), access=access or [], platform_id=rec.platform_id,
                               staged_bytes=staged_bytes, results=results or [], delivered_bytes=delivered_bytes)
        msg_id = event.msg_id if rec.phase is not phase else f"{event.msg_id}-{event.time.timestamp()}"
        # NATS away: the session waits rather than forgets
        await persist(lambda: publish(self.js, c.event_subject(self.site), event, msg_id),
                      f"event {phase} for {rec.session} not published")
        if rec.phase is not phase:
            rec.phase = phase
            await self._save(rec)

    async def _save(self, rec: SessionRecord) -> None:
        """As the holder of its lease (renewing it); Lost if another replica took the session over.
        NATS away, or the bucket electing a new leader (a node died): the write waits, the session goes on."""
        await persist(lambda: self.leases.save(str(rec.session), rec), f"session {rec.session}: record not saved",
                      passes=(Lost,))

