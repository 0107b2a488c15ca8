"""The issuer's HTTP face: discovery and JWKS as IAM serves them, plus `/standin/*` controls for tests
(outage, key rotation, minting a token over HTTP, counts of what was fetched)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .issuer import OidcIssuer


def create_app(issuer: OidcIssuer) -> FastAPI:
    app = FastAPI(title="OIDC issuer stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.issuer = issuer
    app.state.down = False
    app.state.fetches = Counter()

    def served(name: str, doc: dict[str, Any]) -> JSONResponse:
        app.state.fetches[name] += 1
        if app.state.down:
            return JSONResponse({"error": "temporarily_unavailable"}, status_code=503)
        return JSONResponse(doc)

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> JSONResponse:
        return served("discovery", issuer.discovery())

    @app.get("/jwk")
    async def jwks() -> JSONResponse:
        return served("jwks", issuer.jwks())

    @app.get("/standin/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/standin/stats")
    async def stats() -> dict[str, int]:
        return dict(app.state.fetches)

    @app.post("/standin/outage")
    async def outage(request: Request) -> dict[str, bool]:
        app.state.down = bool((await request.json()).get("down", True))
        return {"down": app.state.down}

    @app.post("/standin/rotate")
    async def rotate(request: Request) -> dict[str, str]:
        body = await request.json() if await request.body() else {}
        return {"kid": issuer.rotate(keep_old=bool(body.get("keep_old", False))).kid}

    @app.post("/standin/token")
    async def token(request: Request) -> dict[str, str]:
        """{sub, aud, groups?, lifetime?}: an access token, for processes that cannot call mint()."""
        body = await request.json()
        minted = issuer.mint(body["sub"], body.get("aud"), groups=body.get("groups"),
                             lifetime=float(body.get("lifetime", 3600)))
        return {"access_token": minted, "token_type": "Bearer"}

    return app
