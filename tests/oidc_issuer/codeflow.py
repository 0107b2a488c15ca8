"""The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636) as a browser meets it at IAM: `/authorize`
consents at once for the configured user (no login form: a test signs in for real without typing) and
redirects back with a one-time code; `/token` trades the code for tokens only with the verifier whose S256
hash the authorization request carried, from the same client and for the same redirect URI."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:
    from .issuer import OidcIssuer

CODE_LIFETIME = 60.0  # seconds a code may wait to be redeemed


class OAuthError(Exception):
    """An RFC 6749 error: `error` code and a description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description = error, description


@dataclass(frozen=True)
class PublicClient:
    """A registered public client (no secret: PKCE stands in for it) and the audience of its access tokens."""

    client_id: str
    audience: str
    redirect_origins: tuple[str, ...] = ("http://127.0.0.1", "http://localhost")  # any port of these


@dataclass(frozen=True)
class User:
    sub: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    user: User
    scope: str
    nonce: str | None
    expires: float


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class CodeFlow:
    clients: dict[str, PublicClient] = field(default_factory=dict)
    user: User = field(default_factory=lambda: User("alice"))
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def register(self, client: PublicClient) -> PublicClient:
        self.clients[client.client_id] = client
        return client

    def authorize(self, params: dict[str, str]) -> str:
        """The URL to send the browser back to, with a code (or with the error, once the redirect is trusted)."""
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            raise OAuthError("unauthorized_client", f"unknown client_id {params.get('client_id')!r}")
        redirect = params.get("redirect_uri", "")
        where = urlsplit(redirect)
        if f"{where.scheme}://{where.hostname}" not in client.redirect_origins or where.fragment:
            raise OAuthError("invalid_request", f"redirect_uri {redirect!r} is not registered for this client")
        state = {"state": params["state"]} if "state" in params else {}
        try:
            code = self._grant(client, redirect, params)
        except OAuthError as exc:
            return _join(redirect, {"error": exc.error, "error_description": exc.description, **state})
        return _join(redirect, {"code": code, **state})

    def _grant(self, client: PublicClient, redirect: str, params: dict[str, str]) -> str:
        if params.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "only response_type=code")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise OAuthError("invalid_request", "PKCE is required, with code_challenge_method=S256")
        if "openid" not in params.get("scope", "").split():
            raise OAuthError("invalid_scope", "scope must include openid")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(client.client_id, redirect, params["code_challenge"], self.user,
                                       params["scope"], params.get("nonce"), time.monotonic() + CODE_LIFETIME)
        return code

    def exchange(self, form: dict[str, str], issuer: OidcIssuer) -> dict[str, object]:
        """The token response for an authorization_code grant; the code is spent whatever the outcome."""
        if form.get("grant_type") != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code")
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires < time.monotonic():
            raise OAuthError("invalid_grant", "unknown, used or expired code")
        if form.get("client_id") != grant.client_id or form.get("redirect_uri") != grant.redirect_uri:
            raise OAuthError("invalid_grant", "the code was issued to another client or redirect_uri")
        if not secrets.compare_digest(s256(form.get("code_verifier", "")), grant.challenge):
            raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
        client = self.clients[grant.client_id]
        lifetime = 3600
        access = issuer.mint(grant.user.sub, client.audience, groups=list(grant.user.groups), lifetime=lifetime,
                             client_id=client.client_id, scope=grant.scope)
        identity = issuer.mint(grant.user.sub, client.client_id, lifetime=lifetime, client_id=client.client_id,
                               **({"nonce": grant.nonce} if grant.nonce else {}))
        return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime, "scope": grant.scope,
                "id_token": identity}


def _join(url: str, query: dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(query)}"
