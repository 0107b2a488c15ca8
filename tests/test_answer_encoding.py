"""An agent's SiteAnswer, written in pieces (shared/agent/answers.py), is byte for byte `model_dump_json`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared import footprint
from srcnet_eb.shared import model as m
from srcnet_eb.shared.agent import answers
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.platform.offers import Offers
from srcnet_eb.shared.platform.port import Preparation
from srcnet_eb.shared.settings import AgentSettings

REQUEST = {
    "executable": {"kind": m.kinds.DOCKER_CONTAINER, "meta": {"name": "x \u00e9\"</"}, "image": {"locations": ["a/b:1"]}},
    "compute": {"kind": m.kinds.SIMPLE_COMPUTE, "cores": {"min": 2}, "volumes": [
        {"kind": m.kinds.SIMPLE_VOLUME, "path": "/scratch", "resource": "space"}]},
    "storage": [{"kind": m.kinds.SIMPLE_STORAGE, "meta": {"name": "space"}, "size": {"min": 10}}],
    "meta": {"name": "meta \"schedule\":{} offers"},
}


def offers(count: int, gpus: int = 0) -> list[m.ExecutionSession]:
    request = m.ExecutionRequest.model_validate(REQUEST)
    settings = AgentSettings(site="site-a")
    preparation = Preparation(staging=timedelta(seconds=30), notes=(m.info("staged {what}", what="it"),))
    make = Offers(request, Demand(2, 4, gpus), Window.of(request, preparation, settings), preparation=preparation,
                  site="site-a", platform="canfar", description="a session")
    start = datetime.now(UTC)
    made = [make(uuid.uuid4(), start + timedelta(hours=i)) for i in range(count)]
    figures = footprint.SiteFigures.of(settings)
    costs, metrics = footprint.estimate(make.template, figures), footprint.site_metrics(figures)
    for offer in made:  # as the runtime prices them: the items shared
        offer.costs, offer.metrics = list(costs), list(metrics)
    return made


def answer(offered: list[m.ExecutionSession], **more) -> c.SiteAnswer:
    return c.SiteAnswer(offerset=uuid.uuid4(), site="site-a", platform="canfar", agent="a-1",
                        result=m.Result.YES if offered else m.Result.NO, offers=offered, **more)


def test_pieces_are_the_whole():
    for count in (0, 1, 2, 4):
        reply = answer(offers(count), messages=[m.warn("note {x}", x='"offers":[]')])
        assert answers.encode(reply) == reply.model_dump_json().encode()
    made = offers(2)  # and the pieces were used, not the whole
    assert answers._same_but_own(made[1], made[0]) and answers._pieces(answers._json(made[0]), made[0])


def test_an_offer_unlike_the_first_is_written_whole():
    made = offers(3)
    made[1].costs = footprint.estimate(made[1], footprint.SiteFigures.of(AgentSettings(site="x", pue=2.0)))
    made[2] = offers(1, gpus=1)[0]
    reply = answer(made)
    assert answers.encode(reply) == reply.model_dump_json().encode()
