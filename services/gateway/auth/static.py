"""Static bearer tokens (EB_AUTH_TOKENS): development and tests, never a production identity."""

from __future__ import annotations

import hmac

from srcnet_eb.shared.settings import StaticIdentity

from .principal import Principal, Unauthorized, principal


class StaticTokens:
    def __init__(self, tokens: dict[str, StaticIdentity], operator_role: str) -> None:
        self._known = [(token.encode(), principal(who.sub, who.roles, operator_role)) for token, who in tokens.items()]

    async def authenticate(self, token: str) -> Principal:
        offered = token.encode()
        found = None
        for known, who in self._known:  # compare every one, in constant time: no timing hints
            if hmac.compare_digest(known, offered):
                found = who
        if found is None:
            raise Unauthorized("unknown token")
        return found

    async def close(self) -> None:
        return None
