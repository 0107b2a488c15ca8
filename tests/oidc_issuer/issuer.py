"""An OIDC issuer's keys and tokens, as SKA IAM (INDIGO IAM) makes them: RSA keys published as a JWKS,
RS256 access tokens (JWT) with `iss`, `sub`, `aud`, `exp`, `iat`, `nbf`, `jti`, `scope`, `client_id`
and the caller's groups in `wlcg.groups` (WLCG profile) or `groups` (IAM profile)."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .codeflow import CodeFlow


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def new(cls, kid: str | None = None) -> SigningKey:
        return cls(kid or f"rsa-{uuid.uuid4().hex[:8]}", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


@dataclass
class OidcIssuer:
    """`url` is the issuer exactly as tokens name it (IAM's ends in a slash)."""

    url: str = ""
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.new()])
    flow: CodeFlow = field(default_factory=CodeFlow)  # browsers' sign-in: authorization code + PKCE
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def current(self) -> SigningKey:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [k.jwk() for k in self.keys]}

    def discovery(self) -> dict[str, Any]:
        base = self.url.rstrip("/")
        return {"issuer": self.url, "jwks_uri": f"{base}/jwk", "token_endpoint": f"{base}/token",
                "authorization_endpoint": f"{base}/authorize", "userinfo_endpoint": f"{base}/userinfo",
                "response_types_supported": ["code", "token"], "subject_types_supported": ["public"],
                "code_challenge_methods_supported": ["S256"], "token_endpoint_auth_methods_supported": ["none"],
                "scopes_supported": ["openid", "profile", "email", "wlcg.groups"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token",
                                          "urn:ietf:params:oauth:grant-type:token-exchange"]}

    def rotate(self, keep_old: bool = False) -> SigningKey:
        """A new signing key; the old one stays published (a rotation's overlap) or is withdrawn."""
        fresh = SigningKey.new()
        with self._lock:
            self.keys = [*self.keys, fresh] if keep_old else [fresh]
        return fresh

    def mint(self, sub: str, audience: str | list[str] | None, *, groups: list[str] | None = None,
             groups_claim: str = "wlcg.groups", lifetime: float = 3600, not_before: float = 0,
             key: SigningKey | None = None, issuer: str | None = None, **claims: Any) -> str:
        """A signed access token. `key` (default the current one) may be one this issuer does not publish."""
        now = int(time.time())
        body: dict[str, Any] = {"iss": issuer or self.url, "sub": sub, "iat": now, "nbf": now + int(not_before),
                                "exp": now + int(lifetime), "jti": str(uuid.uuid4()), "client_id": "eb-tests",
                                "scope": "openid profile wlcg.groups"}
        if audience is not None:
            body["aud"] = audience
        if groups is not None:
            body[groups_claim] = groups
        body.update(claims)
        signer = key or self.current
        return jwt.encode(body, signer.private, algorithm="RS256", headers={"kid": signer.kid, "typ": "at+jwt"})
