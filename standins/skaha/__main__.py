"""``python -m srcnet_eb.standins.skaha --port 8701 --config standins/skaha/sites/site-a.yaml``"""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .config import SkahaStandInConfig, load_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m srcnet_eb.standins.skaha",
                                     description="Local stand-in for CANFAR Skaha v1 (test/dev only)")
    # Loopback by default: the stand-in has no real security and must not be exposed.
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8701)
    parser.add_argument("--config", help="site YAML file (default: empty built-in site)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    config = load_config(args.config) if args.config else SkahaStandInConfig()
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
