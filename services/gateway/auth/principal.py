"""Who is calling: the identity a bearer token stands for, and what it may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Principal:
    sub: str  # the caller's identity: owner of the OfferSets it asks for
    roles: frozenset[str] = frozenset()
    operator: bool = False

    @property
    def owned_by(self) -> str | None:
        """The owner store lookups are restricted to: the caller itself, or (an operator) no one."""
        return None if self.operator else self.sub


def role_name(group: str) -> str:
    """A role or group as compared: `/ska/operators` (WLCG form) and `ska/operators` (IAM form) are one."""
    return group.strip().lstrip("/")


def principal(sub: str, roles: Iterable[str], operator_role: str) -> Principal:
    names = frozenset(role_name(r) for r in roles if isinstance(r, str) and r.strip())
    return Principal(sub, names, role_name(operator_role) in names)


class Unauthorized(Exception):
    """No identity: the token is missing, malformed, expired, for someone else... (HTTP 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IssuerUnavailable(Exception):
    """The token cannot be checked now: the issuer's keys could not be fetched (HTTP 503)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal:
        """The caller the token stands for; Unauthorized or IssuerUnavailable otherwise."""
        ...

    async def close(self) -> None: ...
