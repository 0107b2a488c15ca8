"""How every process connects to NATS: any node of the cluster, its own credentials, its site's inbox
prefix, and reconnecting for ever.

`EB_NATS_URL` may list a cluster's nodes (comma-separated); the client also learns the others from
the server. Credentials, most preferred first: an nkey seed file (`EB_NATS_NKEY_SEED`: the servers only
hold the public key), a `.creds` file (`EB_NATS_CREDS`, for a JWT/operator deployment), or a user and
password. An agent's replies come back on its site's own inbox prefix (`c.inbox_prefix(site)`), the
only inboxes its credentials may subscribe to.
"""

from __future__ import annotations

import logging
from typing import Any

from faststream.nats import NatsCredentials, NatsNKey, NatsUserPassword
from faststream.security import BaseSecurity

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.settings import Common

log = logging.getLogger(__name__)

RECONNECT_WAIT = 1.0  # seconds before trying the same node again; other nodes are tried at once
FOREVER = -1


def servers(settings: Common) -> list[str]:
    return [url.strip() for url in settings.nats_url.split(",") if url.strip()]


async def _log_error(err: Exception) -> None:
    # Permission violations arrive here, not as exceptions: say them out loud.
    log.warning("NATS: %s", err)


def _common(settings: Common, site: str | None, name: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {"servers": servers(settings), "max_reconnect_attempts": FOREVER,
                               "reconnect_time_wait": RECONNECT_WAIT, "error_cb": _log_error}
    if site is not None:
        options["inbox_prefix"] = c.inbox_prefix(site)
    if name is not None:
        options["name"] = name
    return options


def connect_options(settings: Common, site: str | None = None, name: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `nats.connect`."""
    options = _common(settings, site, name)
    if settings.nats_nkey_seed is not None:
        options["nkeys_seed"] = str(settings.nats_nkey_seed)
    elif settings.nats_creds is not None:
        options["user_credentials"] = str(settings.nats_creds)
    elif settings.nats_user is not None:
        options["user"] = settings.nats_user
        options["password"] = settings.nats_password.get_secret_value() if settings.nats_password else ""
    return options


def security(settings: Common) -> BaseSecurity | None:
    if settings.nats_nkey_seed is not None:
        return NatsNKey.from_file(str(settings.nats_nkey_seed))
    if settings.nats_creds is not None:
        return NatsCredentials(str(settings.nats_creds))
    if settings.nats_user is not None:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return NatsUserPassword(settings.nats_user, password)
    return None


def broker_options(settings: Common, site: str | None = None, name: str | None = None) -> dict[str, Any]:
    """Keyword arguments for FastStream's `NatsBroker`."""
    options = _common(settings, site, name)
    options["security"] = security(settings)
    return options
