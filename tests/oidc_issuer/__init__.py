"""Stand-in for an OIDC issuer (SKA IAM): discovery, JWKS, RS256 access tokens, key rotation.

Not part of the broker, for tests and development only: the gateway talks to it exactly as to IAM.
"""

from .app import create_app
from .issuer import OidcIssuer, SigningKey
from .server import RunningIssuer, running_issuer

__all__ = ["OidcIssuer", "RunningIssuer", "SigningKey", "create_app", "running_issuer"]
