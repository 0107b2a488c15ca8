"""N CANFAR site agents in one process against one Skaha stand-in (for the benchmark)."""

from __future__ import annotations

import argparse
import asyncio

from srcnet_eb.services.canfar_agent import plugin as canfar
from srcnet_eb.services.canfar_agent.settings import CanfarSettings
from srcnet_eb.services.rucio_agent.service import RucioAgent
from srcnet_eb.services.rucio_agent.settings import RucioSettings
from srcnet_eb.shared.agent import AgentRuntime
from srcnet_eb.shared.service import serve
from srcnet_eb.standins.skaha.config import SkahaStandInConfig, StandInImage
from srcnet_eb.standins.skaha.server import running_standin

IMAGE = "images.canfar.net/skaha/astroml:24.07"


class Sites:
    def __init__(self, count: int, nats_url: str, rucio: dict | None = None, first: int = 0,
                 seeds: str | None = None, offer_expiry: float = 2.0) -> None:
        self.count, self.nats_url, self.rucio, self.first = count, nats_url, rucio, first
        self.offer_expiry = offer_expiry
        self.seeds = seeds  # a folder with each site's NATS nkey seed, <site>.nk
        self.agents: list = []
        self.standin = running_standin(SkahaStandInConfig(images=[StandInImage(id=IMAGE, types=["headless"])],
                                                          cores_options=[1, 2, 4, 8], memory_options=[1, 2, 4, 8]))

    async def start(self) -> None:
        url = await self.standin.__aenter__()
        for i in range(self.first, self.first + self.count):
            # Capacity large enough that a long run never fills the ledger; offers lapse after 2 s (by default)
            # because the benchmark client never accepts or rejects them (each open offer is a held reservation).
            site = f"bench-{i:03d}"
            own = {"nats_nkey_seed": f"{self.seeds}/{site}.nk"} if self.seeds else {}
            s = CanfarSettings(site=site, nats_url=self.nats_url, skaha_url=url, heartbeat_interval=2.0,
                               total_cores=10**7, total_memory_gb=10**8, offer_expiry=self.offer_expiry,
                               skaha_cache_ttl=60, **own)
            agent = AgentRuntime.from_plugin(canfar, s)
            await agent.start()
            self.agents.append(agent)
            if self.rucio is not None:  # the site's data agent; site-a's RSEs answer for every bench site
                data = RucioAgent(RucioSettings(site=s.site, nats_url=self.nats_url, rse_expression="site=site-a",
                                                heartbeat_interval=2.0, **self.rucio))
                await data.start()
                self.agents.append(data)

    async def stop(self) -> None:
        await asyncio.gather(*(a.stop() for a in self.agents))
        await self.standin.__aexit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--first", type=int, default=0, help="number of the first site (bench-NNN)")
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--seeds", help="folder of the sites' NATS nkey seeds (<site>.nk)")
    parser.add_argument("--rucio-url", help="also run a Rucio data agent per site against this server")
    parser.add_argument("--offer-expiry", type=float, default=2.0,
                        help="seconds an offer (a held reservation) stays open: longer keeps a burst's offers open")
    parser.add_argument("--rucio-cache", type=float, default=30.0, help="seconds the data agent reuses an answer")
    args = parser.parse_args()
    rucio = None
    if args.rucio_url:
        rucio = {"rucio_host": args.rucio_url, "rucio_username": "ddmlab", "rucio_password": "secret",
                 "cache_ttl": args.rucio_cache}
    sites = Sites(args.count, args.nats_url, rucio, args.first, args.seeds, args.offer_expiry)
    serve(sites)


if __name__ == "__main__":
    main()
