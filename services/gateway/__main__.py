"""`python -m srcnet_eb.services.gateway`: serve the gateway with uvicorn (settings from EB_* variables)."""

from __future__ import annotations

import uvicorn

from srcnet_eb.shared.settings import GatewaySettings

from .app import create_app
from .serve import uvicorn_config


def main() -> None:
    settings = GatewaySettings()
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()


if __name__ == "__main__":
    main()
