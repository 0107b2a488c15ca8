"""OIDC bearer tokens as SKA IAM issues them: JWTs signed by the issuer (RS256), checked against its
published keys, with `iss`, `aud`, `exp` (and `nbf`, `iat` when present) verified; the caller is `sub`,
its roles the groups listed in `groups` / `wlcg.groups`."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
from jwt import exceptions as e

from srcnet_eb.shared.settings import GatewaySettings

from .jwks import JwksCache, UnknownKey
from .principal import Principal, Unauthorized, principal


class OidcTokens:
    def __init__(self, settings: GatewaySettings, http: httpx.AsyncClient | None = None) -> None:
        assert settings.oidc_issuer and settings.oidc_audience  # GatewaySettings checks it
        self.issuer, self.audience = settings.oidc_issuer, settings.oidc_audience
        self.algorithms = list(settings.oidc_algorithms)
        self.leeway = settings.oidc_leeway
        self.roles_claims = list(settings.oidc_roles_claims)
        self.operator_role = settings.operator_role
        self._own_http = http is None
        self.http = http or httpx.AsyncClient(timeout=settings.oidc_timeout, follow_redirects=True)
        self.keys = JwksCache(self.issuer, self.http, settings.oidc_jwks_ttl, settings.oidc_jwks_refetch)

    async def authenticate(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except e.DecodeError as exc:
            raise Unauthorized("the token is not a signed JWT") from exc
        except e.PyJWTError as exc:  # e.g. a `kid` that is not a string
            raise Unauthorized(f"the token's header is invalid: {exc}") from exc
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthorized(f"signature algorithm {alg!r} is not accepted (only {', '.join(self.algorithms)})")
        try:
            key = await self.keys.key(header.get("kid"))
        except UnknownKey as exc:
            raise Unauthorized(f"the token is signed with a key the issuer does not publish "
                               f"(kid {header.get('kid')!r})") from exc
        claims = self._verify(token, key)
        if not isinstance(claims["sub"], str) or not claims["sub"].strip():
            raise Unauthorized("the token's 'sub' claim is empty")
        return principal(claims["sub"], self._roles(claims), self.operator_role)

    def _verify(self, token: str, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            return jwt.decode(token, key, algorithms=self.algorithms, audience=self.audience, issuer=self.issuer,
                              leeway=self.leeway, options={"require": ["exp", "iss", "aud", "sub"]})
        except e.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except e.ImmatureSignatureError as exc:
            raise Unauthorized("token not yet valid (nbf or iat in the future)") from exc
        except e.InvalidAudienceError as exc:
            raise Unauthorized(f"audience: the token is not for {self.audience!r}") from exc
        except e.InvalidIssuerError as exc:
            raise Unauthorized(f"issuer: the token is not from {self.issuer!r}") from exc
        except e.MissingRequiredClaimError as exc:
            raise Unauthorized(f"the token has no {exc.claim!r} claim") from exc
        except e.InvalidSignatureError as exc:
            raise Unauthorized("the token's signature does not verify") from exc
        except e.InvalidAlgorithmError as exc:
            raise Unauthorized(f"signature algorithm: {exc}") from exc
        except e.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc

    def _roles(self, claims: dict[str, Any]) -> list[str]:
        found: list[str] = []
        for name in self.roles_claims:
            value = claims.get(name)
            if isinstance(value, str):  # some issuers send a space-separated string
                found += value.split()
            elif isinstance(value, list):
                found += [v for v in value if isinstance(v, str)]
        return found

    async def close(self) -> None:
        if self._own_http:
            await self.http.aclose()
