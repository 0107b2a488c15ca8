"""`python -m srcnet_eb.services.planner`: one planner (settings from EB_* variables)."""

from __future__ import annotations

import asyncio

from srcnet_eb.shared.service import run_until_stopped
from srcnet_eb.shared.settings import PlannerSettings

from .service import Planner


def main() -> None:
    asyncio.run(run_until_stopped(Planner(PlannerSettings())))


if __name__ == "__main__":
    main()
