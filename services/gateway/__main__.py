"""`python -m srcnet_eb.services.gateway`: serve the gateway with uvicorn (settings from EB_* variables)."""

from __future__ import annotations

import uvicorn

from srcnet_eb.shared.settings import GatewaySettings
from srcnet_eb.shared.tracing import configure_process

from .app import create_app
from .serve import uvicorn_config


def main() -> None:
    settings = GatewaySettings()
    # The app's own loggers (warnings of plans, JWKS, sessions) reach the process's output, as the other
    # processes' do (shared/service.py); uvicorn's start line and, if asked, its access log too, through
    # the same handler (log_config=None: uvicorn's loggers go to the root's, in the same format).
    configure_process("eb-gateway", settings)
    uvicorn.Server(uvicorn_config(create_app(settings), settings, log_level=settings.log_level.lower(),
                                  access_log=settings.access_log, log_config=None)).run()


if __name__ == "__main__":
    main()
