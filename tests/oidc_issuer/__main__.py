"""``python -m tests.oidc_issuer --port 8702``: an OIDC issuer stand-in on loopback, printing its issuer URL
and a token (for a gateway run with EB_AUTH_MODE=oidc EB_OIDC_ISSUER=... EB_OIDC_AUDIENCE=...)."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .codeflow import PublicClient, User
from .issuer import OidcIssuer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.oidc_issuer",
                                     description="Local stand-in for an OIDC issuer (test/dev only)")
    parser.add_argument("--host", default="127.0.0.1")  # loopback: the stand-in mints tokens for anyone
    parser.add_argument("--port", type=int, default=8702)
    parser.add_argument("--audience", default="ebroker")
    parser.add_argument("--client", default="eb-dashboard", help="a public client (the dashboard: EB_OIDC_CLIENT_ID)")
    parser.add_argument("--user", default="dev", help="who /authorize signs in, at once")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    issuer = OidcIssuer(url=f"http://{args.host}:{args.port}/")
    issuer.flow.register(PublicClient(args.client, args.audience))
    issuer.flow.user = User(args.user, ("/operator",))
    print(f"issuer {issuer.url}   (dashboard client {args.client}: signs in {args.user} at once)\n"
          f"token  {issuer.mint('dev', args.audience, groups=['/operator'])}\n"
          f"more:  curl -X POST {issuer.url}standin/token -d '{{\"sub\": \"alice\", \"aud\": \"{args.audience}\"}}'",
          flush=True)
    uvicorn.run(create_app(issuer), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
