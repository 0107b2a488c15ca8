"""`python -m services.gateway`: serve the gateway with uvicorn (settings from EB_* variables)."""

from __future__ import annotations

import uvicorn

from shared.settings import GatewaySettings

from .app import create_app


def main() -> None:
    settings = GatewaySettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
