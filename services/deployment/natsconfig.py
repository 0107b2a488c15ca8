"""NATS server configurations of a deployment: the central 3-node cluster (routes, replicated
JetStream, a leaf node listener), its accounts (one for the central processes, one per site, each
with its own JetStream; only the site's own subjects cross between them) and the leaf node a site
runs behind its firewall.

Sites authenticate with nkeys: a site keeps its seed, the hub knows only its public key (a site may
bring its own key, `--site NAME=UPUBLIC`). The server configurations hold public keys only; seeds go
to separate files, one per identity.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nkeys

from srcnet_eb.shared import contracts as c
from srcnet_eb.shared.nats.jetstream import commands_deliver

CLUSTER = "eb-hub"
ROUTE_USER = "route"
ROUTE_POOL = 3  # route connections between two nodes, accounts spread over them (plus one for $SYS)
# The hub's JetStream domain. JetStream API traffic crosses a leaf link only in its domain form
# ($JS.hub.API.>); a site's leaf node maps its agents' plain $JS.API/$KV subjects to it.
DOMAIN = "hub"


@dataclass(frozen=True)
class NKey:
    public: str
    seed: str | None = None  # absent for a site that brought its own public key

    @classmethod
    def new(cls) -> NKey:
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        return cls(nkeys.from_seed(seed).public_key.decode(), seed.decode())

    @classmethod
    def public_only(cls, public: str) -> NKey:
        if not (public.startswith("U") and len(public) == 56):
            raise ValueError(f"{public!r} is not a NATS user public nkey (U…, 56 characters)")
        return cls(public)


CENTRAL = "BROKER"  # the account of the gateways and planners: the streams, the planners' inboxes


def site_account(site: str) -> str:
    return f"SITE_{c.check_site(site)}"


def site_exchange(site: str) -> tuple[dict[str, list], dict[str, list]]:
    """What crosses between the central account and a site's, as (central, site) exports and imports.

    Only these subjects cross. Anything else a site publishes, and anything its own JetStream
    delivers (its consumers may name any deliver subject), stays inside the site's account.
    """
    account = site_account(site)
    consumer = c.agent_consumer(site)
    to_site, to_centre = {"accounts": [account]}, {"accounts": [CENTRAL]}
    central = {
        "exports": [
            {"stream": commands_deliver(site), **to_site},  # its session commands (consumer agent-<site>)
            {"service": f"$JS.ACK.{c.COMMANDS_STREAM}.{consumer}.>", **to_site},  # and their acknowledgements
            {"service": c.event_subject(site), **to_site},  # its session events into EB_SESSION_EVENTS (acked)
        ],
        "imports": [
            {"stream": {"account": account, "subject": c.heartbeat_subject(site)}},
            {"stream": {"account": account, "subject": c.metrics_subject(site)}},  # its agents' metrics
            {"service": {"account": account, "subject": c.offers_subject(site)}},
            {"service": {"account": account, "subject": c.data_subject(site)}},
        ],
    }
    own = {
        "exports": [
            {"stream": c.heartbeat_subject(site), **to_centre},
            {"stream": c.metrics_subject(site), **to_centre},
            # answered through the import's reply: a stream of messages (a "wait", then the answer, see
            # c.WAIT_HEADER), not the one message a singleton reply would let through
            {"service": c.offers_subject(site), "response_type": "stream", **to_centre},
            {"service": c.data_subject(site), **to_centre},
        ],
        "imports": [
            {"stream": {"account": CENTRAL, "subject": c.PING}},
            {"stream": {"account": CENTRAL, "subject": commands_deliver(site)}},
            {"service": {"account": CENTRAL, "subject": f"$JS.ACK.{c.COMMANDS_STREAM}.{consumer}.>"}},
            {"service": {"account": CENTRAL, "subject": c.event_subject(site)}},
        ],
    }
    return central, own


def site_permissions(site: str) -> dict[str, Any]:
    """The site's user, inside its own account: its own subjects, its own inboxes, its own JetStream.

    The account is the boundary; these allow-lists (NATS denies what they do not name) make a site's
    attempts at other names fail loudly, as permission violations.
    """
    own = f"{c.PREFIX}.site.{c.check_site(site)}.>"
    inbox = f"{c.inbox_prefix(site)}.>"
    return {
        # _R_.>: replies to the central account's requests, as its service imports renamed them (a leaf
        # link needs them named: allow_responses does not cross it)
        "publish": {"allow": [own, inbox, "_R_.>", "$JS.API.>", f"$JS.{DOMAIN}.API.>", "$KV.>", "$JS.ACK.>",
                              "$JS.FC.>"]},
        "subscribe": {"allow": [own, c.PING, inbox]},
        "allow_responses": True,  # replies to the requests the central account sends it (offers, data)
    }


@dataclass(frozen=True)
class Node:
    """One server of the central cluster, as the others and the clients reach it."""

    name: str
    host: str
    client_port: int = 4222
    cluster_port: int = 6222
    leaf_port: int = 7422
    http_port: int = 8222
    listen: str = "0.0.0.0"  # interface for clients, routes and monitoring
    leaf_listen: str | None = None  # interface for leaf nodes (default: listen)
    store_dir: str = "/data"

    @property
    def client_url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    @property
    def leaf_host(self) -> str:
        """Where leaf nodes reach this node: its leaf interface when one is named, else its host."""
        return self.leaf_listen if self.leaf_listen not in (None, "0.0.0.0", "::") else self.host

    @property
    def leaf_url(self) -> str:
        return f"nats-leaf://{self.host}:{self.leaf_port}"


@dataclass
class Topology:
    nodes: list[Node]
    sites: dict[str, NKey]
    central: NKey = field(default_factory=NKey.new)
    route_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # A cut link (no reset, just silence) is noticed after about ping_interval * ping_max.
    ping_interval: str = "10s"
    ping_max: int = 3

    @property
    def servers(self) -> str:
        """EB_NATS_URL for the central processes: every node."""
        return ",".join(node.client_url for node in self.nodes)

    def accounts(self) -> dict[str, Any]:
        """One account for the central processes, one per site, each with its own JetStream."""
        central: dict[str, Any] = {"jetstream": "enabled", "users": [{"nkey": self.central.public}],
                                   "exports": [{"stream": c.PING}], "imports": []}
        accounts = {CENTRAL: central}
        for site, key in sorted(self.sites.items()):
            theirs, own = site_exchange(site)
            central["exports"] += theirs["exports"]
            central["imports"] += theirs["imports"]
            accounts[site_account(site)] = {"jetstream": "enabled",
                                            "users": [{"nkey": key.public, "permissions": site_permissions(site)}],
                                            **own}
        return accounts

    def hub_config(self, node: Node) -> dict[str, Any]:
        others = [n for n in self.nodes if n.name != node.name]
        return {
            "server_name": node.name,
            "listen": f"{node.listen}:{node.client_port}",
            # What the nodes tell clients and leaf nodes to reconnect to: the names they reach the nodes by,
            # not the node's own interface addresses (a site cannot reach those; a reconnect to them would
            # wait out a dial timeout each, while the site went silent).
            "client_advertise": f"{node.host}:{node.client_port}",
            "ping_interval": self.ping_interval,
            "ping_max": self.ping_max,
            "http": f"{node.listen}:{node.http_port}",
            "jetstream": {"store_dir": node.store_dir, "domain": DOMAIN},
            "cluster": {
                "name": CLUSTER,
                "pool_size": ROUTE_POOL,
                "listen": f"{node.listen}:{node.cluster_port}",
                "authorization": {"user": ROUTE_USER, "password": self.route_password},
                "routes": [f"nats-route://{ROUTE_USER}:{self.route_password}@{n.host}:{n.cluster_port}" for n in others],
            },
            # A leaf node authenticates as a site's user: the link is in the site's account, with its permissions.
            "leafnodes": {"listen": f"{node.leaf_listen or node.listen}:{node.leaf_port}",
                          "advertise": f"{node.leaf_host}:{node.leaf_port}"},
            "accounts": self.accounts(),
        }


def leaf_config(site: str, seed: str, hubs: list[str], listen: str = "127.0.0.1:4222",
                ping_interval: str = "10s", ping_max: int = 3) -> dict[str, Any]:
    """A site's leaf node: serves the site's agents on `listen`, connects out to the hub's leaf ports
    (`hubs`, nats-leaf:// URLs) as the site. No JetStream of its own: the hub's is used through the link."""
    return {
        "server_name": f"leaf-{c.check_site(site)}",
        "listen": listen,
        "ping_interval": ping_interval,
        "ping_max": ping_max,
        # The agents' JetStream and key-value requests, in the form that may cross the link.
        "mappings": {"$JS.API.>": f"$JS.{DOMAIN}.API.>", "$KV.>": f"$JS.{DOMAIN}.API.$KV.>"},
        "leafnodes": {"reconnect": "1s", "remotes": [{"urls": hubs, "nkey": seed}]},
    }


def render(config: dict[str, Any], comment: str = "", includes: tuple[str, ...] = ()) -> str:
    """NATS configuration text: one `key: value` line per top-level key, values in JSON (which the
    format accepts; quoted strings are never variable references), then `include` lines."""
    head = "".join(f"# {line}\n" for line in comment.splitlines())
    body = "".join(f"{key}: {json.dumps(value, indent=2)}\n" for key, value in config.items())
    return head + body + "".join(f'include "{path}"\n' for path in includes)


SECRETS = "secrets"  # beside the server configurations; never committed


def _write(path: Path, text: str, secret: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if secret:
        path.chmod(0o600)
    return path


def _key(path: Path) -> NKey:
    """The identity whose seed is in `path`, or a new one: running again keeps every existing key."""
    if path.exists():
        seed = path.read_text().strip().encode()
        return NKey(nkeys.from_seed(seed).public_key.decode(), seed.decode())
    return NKey.new()


def write_deployment(out: Path, nodes: list[Node], sites: dict[str, str | None], leaves: tuple[str, ...] = (),
                     leaf_listen: str = "0.0.0.0:4222") -> tuple[Topology, list[Path]]:
    """Write a deployment's NATS configuration under `out`.

    `sites`: name -> the public key the site brought, or None to make its key here. Server
    configurations (`<node>.conf`) hold public keys only; `secrets/` holds the seeds, the route password
    (`secrets/<node>-cluster.conf`, included) and the leaf node configurations of `leaves`.
    """
    secrets_dir = out / SECRETS
    password_file = secrets_dir / "route-password"
    password = password_file.read_text().strip() if password_file.exists() else secrets.token_urlsafe(24)
    keys = {site: NKey.public_only(public) if public else _key(secrets_dir / f"{site}.nk")
            for site, public in sites.items()}
    topology = Topology(nodes, keys, _key(secrets_dir / "central.nk"), password)
    written = []
    for node in nodes:
        config = topology.hub_config(node)
        cluster = {"cluster": config.pop("cluster")}
        include = f"{SECRETS}/{node.name}-cluster.conf"
        written.append(_write(out / include, render(cluster, "Routes to the other nodes and their password."),
                              secret=True))
        written.append(_write(out / f"{node.name}.conf", render(
            config, f"NATS hub node {node.name}, written by `ebroker nats-config`: public keys only.\n"
            f"Sites: {', '.join(sorted(sites)) or 'none'}.", (include,))))
    written.append(_write(password_file, password + "\n", secret=True))
    for name, key in [("central", topology.central), *keys.items()]:
        if key.seed:
            written.append(_write(secrets_dir / f"{name}.nk", key.seed + "\n", secret=True))
    for site in leaves:
        seed = keys[site].seed
        if seed is None:
            raise ValueError(f"site {site} brought its own key: its leaf configuration is written at the site")
        written.append(_write(secrets_dir / f"leaf-{site}.conf", render(
            leaf_config(site, seed, [node.leaf_url for node in nodes], leaf_listen),
            f"Leaf node of site {site}: it holds the site's seed, keep it at the site."), secret=True))
    return topology, written
