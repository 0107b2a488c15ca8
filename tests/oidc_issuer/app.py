"""The issuer's HTTP face: discovery, JWKS, `/authorize` and `/token` (code + PKCE) as IAM serves them, plus
`/standin/*` controls for tests (outage, key rotation, minting a token over HTTP, counts of what was fetched,
the public clients and the user who signs in)."""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .codeflow import OAuthError, PublicClient, User
from .issuer import OidcIssuer


def create_app(issuer: OidcIssuer) -> FastAPI:
    app = FastAPI(title="OIDC issuer stand-in", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.issuer = issuer
    app.state.down = False
    app.state.fetches = Counter()
    # A single-page client fetches discovery and redeems its code from the page's origin, as IAM allows.
    app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "POST"], allow_headers=["*"])

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

    @app.get("/authorize")
    async def authorize(request: Request) -> Response:
        app.state.fetches["authorize"] += 1
        try:
            return RedirectResponse(issuer.flow.authorize(dict(request.query_params)), status_code=302)
        except OAuthError as exc:  # no trusted redirect: the error is shown, not sent anywhere
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=400)

    @app.post("/token")
    async def token_endpoint(request: Request) -> JSONResponse:
        app.state.fetches["token"] += 1
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))  # x-www-form-urlencoded
        try:
            return JSONResponse(issuer.flow.exchange(form, issuer), headers={"Cache-Control": "no-store"})
        except OAuthError as exc:
            return JSONResponse({"error": exc.error, "error_description": exc.description}, status_code=400)

    @app.post("/standin/clients")
    async def client(request: Request) -> dict[str, str]:
        """{client_id, audience}: register a public client (redirects back to loopback only)."""
        body = await request.json()
        return {"client_id": issuer.flow.register(PublicClient(body["client_id"], body["audience"])).client_id}

    @app.post("/standin/login")
    async def login(request: Request) -> dict[str, str]:
        """{sub, groups?}: who /authorize signs in from now on."""
        body = await request.json()
        issuer.flow.user = User(body["sub"], tuple(body.get("groups", ())))
        return {"sub": issuer.flow.user.sub}

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
