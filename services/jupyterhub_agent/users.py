"""The hub user a session runs as: the caller's identity (the OfferSet's owner, e.g. an OIDC `sub`).

The same identity must give the same name the hub's own authenticator gives it when the user logs in,
so a plain identity is kept as it is, lower-cased (as JupyterHub's `Authenticator.normalize_username`
does). One the hub could not take (characters outside [a-z0-9._@+-], longer than NAME_MAX) is made
safe and given a short hash of the original, so two identities never share a hub user.
"""

from __future__ import annotations

import hashlib
import re

NAME_MAX = 64
_PLAIN = re.compile(r"^[a-z0-9][a-z0-9._@+-]*$")
_UNSAFE = re.compile(r"[^a-z0-9._@+-]+")


def hub_user(owner: str | None, anonymous: str) -> str:
    """`owner`'s hub user name; `anonymous` when no one signed the request."""
    if owner is None or not owner.strip():
        return anonymous
    name = owner.strip().lower()
    if _PLAIN.match(name) and len(name) <= NAME_MAX:
        return name
    digest = hashlib.sha256(owner.encode()).hexdigest()[:8]
    safe = _UNSAFE.sub("-", name).strip("-._@+")[: NAME_MAX - 9] or "user"
    return f"{safe}-{digest}"
