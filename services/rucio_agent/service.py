"""The Rucio data agent's NATS side: locality questions, staging rules and their progress."""

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

import httpx
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from srcnet_eb.services.s3_data.rules import is_s3
from srcnet_eb.services.s3_data.site import S3Site
from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.agent.presence import Presence
from srcnet_eb.shared.metrics.platform_calls import timed
from srcnet_eb.shared.metrics.publishing import MetricsPublisher
from srcnet_eb.shared.model import error, info
from srcnet_eb.shared.nats.connect import broker_options
from srcnet_eb.shared.tracing import consuming

from .delivery import Deliveries
from .errors import CatalogUnavailable, DidNotFound
from .locality import Locator
from .settings import RucioSettings

if TYPE_CHECKING:
    from .catalog import RucioCatalog

log = logging.getLogger(__name__)
PLATFORM = "rucio"


class RucioAgent:
    def __init__(self, settings: RucioSettings, name: str | None = None) -> None:
        self.settings = settings
        self.site = c.check_site(settings.site)
        self.name = name or f"{self.site}-rucio-{uuid.uuid4().hex[:8]}"
        self.catalog = _catalog(settings) if settings.rucio_host else None  # None: URLs (and S3) only
        self.s3 = S3Site(self.site, settings) if settings.s3_endpoint else None  # None: S3 data not judged
        self.http = httpx.AsyncClient(timeout=3.0)
        self.locator = Locator(settings, self.catalog, self.http, self.s3)
        self.deliveries = Deliveries(settings, self.catalog, self.s3)
        self.broker = NatsBroker(**broker_options(settings, site=self.site, name=self.name), logger=None,
                                 reconnected_cb=self._reconnected)
        self.presence = Presence(self.broker, self.site, self.name, PLATFORM, c.Role.DATA,
                                 settings.heartbeat_interval, self.capabilities)
        self.published = MetricsPublisher(lambda: self.broker.connection, settings, self.site, self.name, PLATFORM,
                                          c.Role.DATA)
        self._subscribe()

    def _subscribe(self) -> None:
        broker, site = self.broker, self.site
        # Timed as the data agent's platform calls (eb_platform_call_*{platform="rucio"}).
        locate, staging, progressing = (timed(self.locator.locate, PLATFORM, "locality"),
                                        timed(self.stage, PLATFORM, "stage"), timed(self.progress, PLATFORM, "progress"))

        @broker.subscriber(c.data_subject(site), queue=site, title="data-agent-locality",
                           description="Where is the data, relative to this site? Replicas share the queue group")
        async def locality(msg: c.DataRequest, raw: NatsMessage) -> c.DataAnswer:
            with consuming(raw.raw_message.subject, raw.headers, attributes={"eb.site": site}):
                found = await locate(msg.data)
            return c.DataAnswer(offerset=msg.offerset, site=site, agent=self.name, locality=found.locality,
                                eta=found.eta, items=found.items, messages=found.messages)

        @broker.subscriber(c.stage_subject(site), queue=site, title="data-agent-stage",
                           description="Create the replication rules (and S3 copies) that bring an accepted session's data here")
        async def stage(msg: c.StageRequest, raw: NatsMessage) -> c.StageAnswer:
            with consuming(raw.raw_message.subject, raw.headers, attributes={"eb.site": site}):
                return await staging(msg)

        @broker.subscriber(c.progress_subject(site), queue=site, title="data-agent-progress",
                           description="Progress of staging rules: OK locks (S3: copies) of all")
        async def progress(msg: c.ProgressRequest, raw: NatsMessage) -> c.StageProgress:
            with consuming(raw.raw_message.subject, raw.headers, attributes={"eb.site": site}):
                return await progressing(msg.rules)

        @broker.subscriber(c.deliver_subject(site), queue=site, title="data-agent-deliver",
                           description="Put an ended session's results where its storage destinations say; "
                                       "asked again until DONE or FAILED")
        async def deliver(msg: c.DeliverRequest, raw: NatsMessage) -> c.DeliverAnswer:
            with consuming(raw.raw_message.subject, raw.headers, attributes={"eb.site": site}):
                return await self.deliveries.ask(msg)

        broker.publisher(c.ANSWER_INBOX, title="data-agent-answer", schema=c.DataAnswer,
                         description="The reply to a locality question, on the planner's inbox")

    async def capabilities(self) -> c.Capabilities:
        s3 = f"; {self.s3.describe()}" if self.s3 is not None else ""
        if self.catalog is None:
            return c.Capabilities(detail=f"no Rucio catalogue: judges simple-data-resource URLs{' and S3 data' if s3 else ''}"
                                         f" only{s3}")
        try:
            rses = await self.catalog.site_rses()
        except CatalogUnavailable as exc:
            return c.Capabilities(reachable=False, detail=exc.reason)
        return c.Capabilities(detail=f"RSEs: {', '.join(rses)}; policy {self.settings.policy}{s3}")

    async def stage(self, msg: c.StageRequest) -> c.StageAnswer:
        """Rucio rules for the DIDs and S3 copies for the objects; any part failing fails the whole (no rules)."""
        parts = [answer for wanted, answer in ((msg.dids, self._stage_dids), (msg.objects, self._stage_objects))
                 if wanted]
        answers = [await answer(msg) for answer in parts]
        messages = [m for a in answers for m in a.messages]
        if not answers or any(not a.rules for a in answers):
            return c.StageAnswer(session=msg.session, messages=messages or [error("{site}: nothing to stage",
                                                                                   site=self.site)])
        return c.StageAnswer(session=msg.session, rules=[r for a in answers for r in a.rules], messages=messages)

    async def _stage_objects(self, msg: c.StageRequest) -> c.StageAnswer:
        if self.s3 is None:
            return c.StageAnswer(session=msg.session, messages=[error(
                "{site}: cannot stage S3 data: this data agent has no S3 endpoint", site=self.site)])
        staged = await self.s3.stage(msg.objects)
        return c.StageAnswer(session=msg.session, rules=staged.rules, messages=staged.messages)

    async def _stage_dids(self, msg: c.StageRequest) -> c.StageAnswer:
        dids = [did.rucio() for did in msg.dids]
        expression = msg.rse_expression or self.settings.site_rses
        if self.catalog is None:
            return c.StageAnswer(session=msg.session, messages=[error(
                "{site}: cannot stage {dids}: this data agent has no Rucio catalogue", site=self.site,
                dids=", ".join(map(str, msg.dids)))])
        try:
            rules = await self.catalog.add_rule(dids, expression, msg.lifetime, f"execution broker session {msg.session}")
        except CatalogUnavailable as exc:
            return c.StageAnswer(session=msg.session, messages=[error("{site}: cannot create the staging rule: {reason}",
                                                                      site=self.site, reason=exc.reason)])
        return c.StageAnswer(session=msg.session, rules=rules, messages=[info(
            "{site}: staging rule(s) {rules} bring {count} DID(s) to {expression}", site=self.site,
            rules=", ".join(rules), count=len(dids), expression=expression)])

    async def progress(self, rules: list[str]) -> c.StageProgress:
        """Rucio's rules and S3 copies together: the worst state speaks for all, the counts and bytes add up."""
        copies, rucio = [r for r in rules if is_s3(r)], [r for r in rules if not is_s3(r)]
        parts = []
        if rucio or not copies:
            parts.append(await self._rucio_progress(rucio))
        if copies:
            parts.append(await self._s3_progress(copies))
        if len(parts) == 1:
            return parts[0].model_copy(update={"rules": rules})
        states = {p.state for p in parts}
        state = next((s for s in ("STUCK", "SUSPENDED", "UNKNOWN", "REPLICATING", "OK") if s in states), "UNKNOWN")
        staged = sum(p.bytes for p in parts) if all(p.bytes is not None for p in parts) else None
        return c.StageProgress(rules=rules, state=state, ok=sum(p.ok for p in parts), total=sum(p.total for p in parts),
                               bytes=staged if state == "OK" else None, messages=[m for p in parts for m in p.messages])

    async def _s3_progress(self, rules: list[str]) -> c.StageProgress:
        if self.s3 is None:
            return c.StageProgress(rules=rules, state="UNKNOWN", messages=[error(
                "{site}: no S3 endpoint: no S3 copies here", site=self.site)])
        found = await self.s3.progress(rules)
        return c.StageProgress(rules=rules, state=found.state, ok=found.ok, total=found.total,
                               bytes=found.bytes if found.state == "OK" else None, messages=found.messages)

    async def _rucio_progress(self, rules: list[str]) -> c.StageProgress:
        if self.catalog is None:  # it made no rules
            return c.StageProgress(rules=rules, state="UNKNOWN", messages=[error(
                "{site}: no Rucio catalogue: no staging rules here", site=self.site)])
        try:
            found = await asyncio.gather(*(self.catalog.rule(r) for r in rules))
        except CatalogUnavailable as exc:
            return c.StageProgress(rules=rules, state="UNKNOWN", messages=[error(
                "{site}: Rucio is unavailable ({reason}); staging progress unknown", site=self.site, reason=exc.reason)])
        ok = sum(int(r.get("locks_ok_cnt") or 0) for r in found)
        total = ok + sum(int(r.get("locks_replicating_cnt") or 0) + int(r.get("locks_stuck_cnt") or 0) for r in found)
        states = {str(r.get("state")) for r in found}
        # The worst rule speaks for all: one stuck rule means the session's data is stuck.
        state = next((s for s in ("STUCK", "SUSPENDED", "REPLICATING", "OK") if s in states), "UNKNOWN")
        staged = await self._bytes(found) if state == "OK" else None
        return c.StageProgress(rules=rules, state=state, ok=ok, total=total, bytes=staged)

    async def _bytes(self, rules: list[dict]) -> int | None:
        """What the rules brought to the site, for accounting; unknown (None) rather than a wrong figure."""
        try:
            sizes = await asyncio.gather(*(self.catalog.did_bytes(r["scope"], r["name"]) for r in rules))
        except (CatalogUnavailable, DidNotFound, KeyError) as exc:
            log.warning("size of staged rules %s unknown: %r", [r.get("id") for r in rules], exc)
            return None
        return None if any(size is None for size in sizes) else sum(sizes)

    async def _reconnected(self) -> None:
        await self.presence.reconnected()

    async def start(self) -> None:
        await self.broker.start()
        self.presence.start()
        await self.published.start()

    async def stop(self) -> None:
        await self.published.stop()
        await self.presence.stop()
        await self.broker.stop()
        await self.http.aclose()
        if self.s3 is not None:
            await self.s3.close()
        if self.catalog is not None:
            self.catalog.close()


def _catalog(settings: RucioSettings) -> "RucioCatalog":
    """Imported here: without EB_RUCIO_HOST the agent runs without the rucio extra installed."""
    from .catalog import RucioCatalog

    return RucioCatalog(settings)
