"""Who calls the gateway: OIDC bearer tokens (SKA IAM) or, in development, static tokens."""

from __future__ import annotations

from srcnet_eb.shared.settings import GatewaySettings

from .dependency import Caller, Operator, caller, operator
from .principal import Authenticator, IssuerUnavailable, Principal, Unauthorized


def authenticator(settings: GatewaySettings) -> Authenticator:
    if settings.auth_mode == "oidc":
        from .oidc import OidcTokens

        return OidcTokens(settings)
    from .static import StaticTokens

    return StaticTokens(settings.auth_tokens, settings.operator_role)


__all__ = ["Authenticator", "Caller", "IssuerUnavailable", "Operator", "Principal", "Unauthorized",
           "authenticator", "caller", "operator"]
