"""The AsyncAPI document: the FastStream handlers of the planner, agent runtime, data agent and gateway,
and the channels the nats-py hot paths declare beside their handlers and publishers (shared/nats/channels.py)."""

import yaml
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.nats.channels import CHANNELS, Channel, Direction
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.capacity.ledger import SharedLedger
from srcnet_eb.shared.platform.port import Proposal
from srcnet_eb.shared.settings import AgentSettings, PlannerSettings


class _DocPlatform:
    """Only to instantiate the runtime for documentation; never answers."""

    kind = "PLATFORM"
    runs = "sessions"

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def capabilities(self) -> Capabilities:
        return Capabilities()

    async def propose(self, request) -> Proposal:
        raise NotImplementedError


def document() -> str:
    from srcnet_eb.services.gateway import plans  # noqa: F401  (declares what the gateway publishes)
    from srcnet_eb.services.planner.service import Planner
    from srcnet_eb.services.rucio_agent.service import RucioAgent
    from srcnet_eb.services.rucio_agent.settings import RucioSettings

    planner = Planner(PlannerSettings())
    agent = AgentRuntime(AgentSettings(site="SITE"), _DocPlatform(), SharedLedger(Demand()), name="AGENT")
    data_agent = RucioAgent(RucioSettings(site="SITE", rucio_host="http://rucio.invalid"), name="DATA-AGENT")
    gateway = NatsBroker()
    # The gateway's subscriber lives inside its app's lifespan; described here with the same contract.
    gateway.subscriber(c.COMPLETED, title="gateway-completed", description="Wakes Prefer: wait readers")(
        _completed_doc
    )
    gateway.subscriber(c.answered_subject("OFFERSET"), title="gateway-answered",
                       description="An OfferSet's event streams relay its offers as sites answer")(_answered_doc)
    spec = AsyncAPI(planner.broker, agent.broker, data_agent.broker, gateway, channels_broker(),
                    title="SRCNet Execution Broker messaging", version=c.VERSION, description=c.__doc__)
    return _in_name_order(spec.to_specification().to_yaml())


def _in_name_order(text: str) -> str:
    """Channels, operations and components by name: the document then changes only when a channel does,
    not when a module move changes the order the handlers were declared in."""
    doc = yaml.safe_load(text)
    for part in (doc, doc.get("components", {})):
        for key in ("channels", "operations", "messages", "schemas"):
            if isinstance(part.get(key), dict):
                part[key] = dict(sorted(part[key].items()))
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def channels_broker() -> NatsBroker:
    """A broker (never started) that FastStream describes: one subscriber or publisher per declared channel."""
    broker = NatsBroker()
    for channel in CHANNELS.values():
        if channel.direction is Direction.RECEIVE:
            broker.subscriber(channel.subject, title=channel.title, description=channel.description)(_typed(channel))
        else:
            broker.publisher(channel.subject, title=channel.title, schema=channel.contract,
                             description=channel.description)
    return broker


def _typed(channel: Channel):
    """A stand-in with the channel's contract as its parameter type: FastStream reads the schema from it."""

    async def handler(msg) -> None:
        return None

    handler.__annotations__ = {"msg": channel.contract, "return": None}
    handler.__name__ = handler.__qualname__ = channel.title.replace("-", "_")
    return handler


async def _completed_doc(msg: c.OfferSetCompleted) -> None:
    return None


async def _answered_doc(msg: c.SiteAnswer) -> None:
    return None
