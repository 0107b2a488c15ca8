"""`python -m services.canfar_agent`: one CANFAR site agent (settings from EB_* variables)."""

from __future__ import annotations

import asyncio

from shared.agent import AgentRuntime
from shared.service import run_until_stopped

from .platform import CanfarPlatform
from .settings import CanfarSettings


def main() -> None:
    settings = CanfarSettings()
    asyncio.run(run_until_stopped(AgentRuntime(settings, CanfarPlatform(settings))))


if __name__ == "__main__":
    main()
