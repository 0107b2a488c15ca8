"""`python -m srcnet_eb.services.rucio_agent`: a site's Rucio data agent (settings from EB_* variables)."""

import asyncio

from srcnet_eb.shared.service import run_until_stopped

from .service import RucioAgent
from .settings import RucioSettings


def main() -> None:
    asyncio.run(run_until_stopped(RucioAgent(RucioSettings())))


if __name__ == "__main__":
    main()
