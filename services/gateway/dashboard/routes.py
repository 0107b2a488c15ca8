"""`GET /ui` (the page), `/ui/assets/...` (its scripts and styles) and `GET /ui/config.json` (what the page
needs to know to sign in: static tokens or OIDC with PKCE, which issuer, which public client)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from srcnet_eb.shared.settings import DEV_TOKEN, GatewaySettings

from ..openapi import answer
from ..problems import ErrorResponse
from ..respond import reply

STATIC = Path(__file__).parent / "static"
router = APIRouter(tags=["dashboard"])


class DashboardConfig(BaseModel):
    """How the dashboard signs in: `static` asks for a token; `oidc` runs the authorization code flow with PKCE
    (S256) against `issuer` as the public client `client_id`."""

    mode: Literal["static", "oidc"]
    issuer: str | None = Field(None, description="OIDC: the issuer (its discovery document names the endpoints)")
    client_id: str | None = Field(None, description="OIDC: the dashboard's public client; absent: paste a token")
    audience: str | None = Field(None, description="OIDC: the audience the gateway expects in access tokens")
    scope: str | None = Field(None, description="OIDC: the scopes to ask for")
    token_hint: str | None = Field(None, description="static: the development token, when the gateway takes it")


def config(settings: GatewaySettings) -> DashboardConfig:
    if settings.auth_mode == "oidc":
        return DashboardConfig(mode="oidc", issuer=settings.oidc_issuer, client_id=settings.oidc_client_id,
                               audience=settings.oidc_audience, scope=settings.oidc_scope)
    return DashboardConfig(mode="static", token_hint=DEV_TOKEN if DEV_TOKEN in settings.auth_tokens else None)


def _origin(url: str | None) -> str:
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def policy(settings: GatewaySettings) -> str:
    """The page loads nothing but its own files, and talks to the gateway and (OIDC) the issuer only."""
    issuer = _origin(settings.oidc_issuer) if settings.auth_mode == "oidc" else ""
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {issuer}".rstrip() + "; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@router.get("/ui", include_in_schema=False)
async def page(request: Request) -> Response:
    settings = request.app.state.gateway.settings
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": policy(settings), "Cache-Control": "no-cache",
                                 "Referrer-Policy": "no-referrer"})


@router.get(
    "/ui/config.json",
    summary="How the dashboard signs in (no token needed)",
    description="`mode` static (a token is asked for) or oidc (authorization code + PKCE against `issuer` as "
                "`client_id`). Named .json for the page; other media types by `Accept` as everywhere.",
    responses={200: answer(DashboardConfig, "The dashboard's sign-in settings"),
               406: answer(ErrorResponse, "No acceptable media type")},
    response_class=Response,
)
async def dashboard_config(request: Request) -> Response:
    return reply(request, config(request.app.state.gateway.settings), "dashboard-config")


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/assets", StaticFiles(directory=STATIC), name="dashboard-assets")
