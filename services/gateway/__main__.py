"""`python -m srcnet_eb.services.gateway`: serve the gateway with uvicorn (settings from EB_* variables)."""

from __future__ import annotations

import logging

import uvicorn

from srcnet_eb.shared.settings import GatewaySettings

from .app import create_app
from .serve import uvicorn_config


def main() -> None:
    settings = GatewaySettings()
    # The app's own loggers (warnings of plans, JWKS, sessions) reach the process's output, as the other
    # processes' do (shared/service.py); uvicorn's start line and, if asked, its access log too.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.Server(uvicorn_config(create_app(settings), settings, log_level="info",
                                  access_log=settings.access_log)).run()


if __name__ == "__main__":
    main()
