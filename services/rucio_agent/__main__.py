"""`python -m services.rucio_agent`: a site's Rucio data agent (settings from EB_* variables)."""

import asyncio

from shared.service import run_until_stopped

from .service import RucioAgent
from .settings import RucioSettings


def main() -> None:
    asyncio.run(run_until_stopped(RucioAgent(RucioSettings())))


if __name__ == "__main__":
    main()
