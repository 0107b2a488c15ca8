"""FastAPI dependencies: `caller` (any identified caller) and `operator` (the operator role).

401 answers carry `WWW-Authenticate: Bearer` (RFC 6750) and the usual problem body naming what is
wrong; an issuer that cannot be reached is a 503, not a refusal of the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from srcnet_eb.shared.model import error

from ..problems import Problem
from .principal import IssuerUnavailable, Principal, Unauthorized

REALM = "srcnet-execution-broker"
bearer = HTTPBearer(auto_error=False, scheme_name="bearer",
                    description="An OIDC access token of the configured issuer (SKA IAM), or in development "
                                "a static token (EB_AUTH_TOKENS; `ebroker up` prints its own)")


def _challenge(error_code: str | None = None, description: str | None = None) -> dict[str, str]:
    value = f'Bearer realm="{REALM}"'
    if error_code:
        value += f', error="{error_code}"'
    if description:
        value += ', error_description="{}"'.format(description.replace('"', "'").replace("\\", "/"))
    return {"WWW-Authenticate": value}


async def caller(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    if credentials is None or not credentials.credentials.strip():
        problem = Problem.field(401, "Unauthorized", "Authorization", "no bearer token")
        problem.headers = _challenge()
        raise problem
    try:
        return await request.app.state.gateway.auth.authenticate(credentials.credentials.strip())
    except Unauthorized as exc:
        problem = Problem.field(401, "Unauthorized", "Authorization", exc.reason)
        problem.headers = _challenge("invalid_token", exc.reason)
        raise problem from None
    except IssuerUnavailable as exc:
        raise Problem(503, "Identity provider unavailable",
                      [error("The token cannot be checked now: {reason}", reason=exc.reason)],
                      {"Retry-After": "5"}) from None


async def operator(request: Request, who: Annotated[Principal, Depends(caller)]) -> Principal:
    if not who.operator:
        role = request.app.state.gateway.settings.operator_role
        raise Problem(403, "Forbidden", [error("{field}: {reason}", field="Authorization",
                                               reason=f"the operator role ({role}) is required")],
                      _challenge("insufficient_scope", "operator role required"))
    return who


Caller = Annotated[Principal, Depends(caller)]
Operator = Annotated[Principal, Depends(operator)]
