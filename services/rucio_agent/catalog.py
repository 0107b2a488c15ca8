"""The site's view of Rucio through the real client library (rucio-clients).

The client is blocking, so every call runs on a small thread pool, bounded by a timeout, with
one client per thread. Answers are cached briefly; any failure but "no such DID" surfaces as
CatalogUnavailable so the agent can say "unknown" instead of crashing or guessing.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

try:
    from rucio.client import Client
    from rucio.common.constants import HTTPMethod
    from rucio.common.exception import DataIdentifierNotFound, DuplicateRule, RucioException
    from rucio.common.utils import build_url
except ImportError as exc:  # only a data agent with EB_RUCIO_HOST needs it
    raise ImportError("asking Rucio needs the rucio extra: pip install 'srcnet-execution-broker[rucio]'") from exc

from .errors import CatalogUnavailable, DidNotFound
from .settings import RucioSettings
from .staging import LinkStats

T = TypeVar("T")


class RucioCatalog:
    def __init__(self, settings: RucioSettings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rucio")
        self._local = threading.local()
        self._cache: dict[tuple, tuple[float, Any]] = {}

    def client(self) -> Client:
        """This thread's client of the site's Rucio (blocking; made once per thread, logged in once). Also
        the results deliveries' (on their own threads), so a delivery does not log in again."""
        client = getattr(self._local, "client", None)
        if client is None:
            s = self.settings
            creds = {"username": s.rucio_username, "password": s.rucio_password} if s.rucio_username else None
            client = Client(rucio_host=s.rucio_host, auth_host=s.rucio_auth_host or s.rucio_host,
                            account=s.rucio_account, auth_type=s.rucio_auth_type, creds=creds,
                            timeout=max(1, int(s.rucio_timeout)), vo=s.rucio_vo)
            self._local.client = client
        return client

    def drop_client(self) -> None:
        """After a failure (a broken session or expired token): this thread starts afresh next time."""
        self._local.client = None

    async def _call(self, work: Callable[[Client], T]) -> T:
        def run() -> T:
            try:
                return work(self.client())
            except (DataIdentifierNotFound, DuplicateRule):
                raise
            except Exception:
                self.drop_client()
                raise

        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._pool, run), self.settings.rucio_timeout)
        except DataIdentifierNotFound as exc:
            raise DidNotFound(str(exc)) from exc
        except DuplicateRule:
            raise
        except TimeoutError as exc:
            raise CatalogUnavailable(f"no answer within {self.settings.rucio_timeout}s") from exc
        except (RucioException, OSError, ValueError, KeyError) as exc:
            raise CatalogUnavailable(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
        except Exception as exc:  # requests' errors and the like: Rucio is unreachable
            raise CatalogUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def _cached(self, key: tuple, work: Callable[[Client], T]) -> T:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.settings.cache_ttl:
            return hit[1]
        value = await self._call(work)
        self._cache[key] = (now, value)
        return value

    def forget(self) -> None:
        self._cache.clear()

    async def site_rses(self) -> list[str]:
        expression = self.settings.site_rses
        return await self._cached(("rses", expression),
                                  lambda c: sorted(r["rse"] for r in c.list_rses(rse_expression=expression)))

    async def did(self, scope: str, name: str) -> dict[str, Any]:
        return await self._cached(("did", scope, name), lambda c: c.get_did(scope, name))

    async def file_replicas(self, scope: str, name: str) -> list[dict[str, Any]]:
        """Every file of the DID with the RSEs holding an AVAILABLE replica (datasets expand to files)."""
        return await self._cached(("files", scope, name),
                                  lambda c: list(c.list_replicas([{"scope": scope, "name": name}])))

    async def dataset_replicas(self, scope: str, name: str) -> list[dict[str, Any]]:
        # deep=True looks at the files; without it, datasets not created at an RSE look absent.
        return await self._cached(("datasets", scope, name),
                                  lambda c: list(c.list_dataset_replicas(scope, name, deep=True)))

    async def distance(self, source: str, destination: str) -> int | None:
        def work(c: Client) -> int | None:
            found = c.get_distance(source, destination)
            return int(found[0]["distance"]) if found else None

        return await self._cached(("distance", source, destination), work)

    async def link(self, source: str, destination: str) -> LinkStats:
        """Queued and recently moved bytes on one link, from GET /requests/metrics."""

        def work(c: Client) -> LinkStats:
            url = build_url(c.host, path="requests/metrics", params={"src_rse": source, "dst_rse": destination})
            response = c._send_request(url, method=HTTPMethod.GET, headers={"Accept": "application/x-json-stream"})
            if response.status_code != 200:
                raise CatalogUnavailable(f"requests/metrics answered {response.status_code}")
            for line in response.text.splitlines():
                row = json.loads(line) if line.strip() else {}
                if row.get("src_rse") == source and row.get("dst_rse") == destination:
                    moved = row.get("bytes", {})
                    return LinkStats(distance=row.get("distance"), queued_bytes=int(moved.get("queued-total", 0)),
                                     done_bytes_1h=int(moved.get("done-total-1h", 0)),
                                     done_bytes_6h=int(moved.get("done-total-6h", 0)))
            return LinkStats()

        return await self._cached(("link", source, destination), work)

    async def add_rule(self, dids: list[dict[str, str]], rse_expression: str, lifetime: int | None,
                       comment: str) -> list[str]:
        """A replication rule bringing the DIDs to the site; an existing identical rule is reused."""

        def work(c: Client) -> list[str]:
            try:
                return list(c.add_replication_rule(dids, 1, rse_expression, lifetime=lifetime, comment=comment))
            except DuplicateRule:
                found = []
                for did in dids:
                    for rule in c.list_did_rules(did["scope"], did["name"]):
                        if rule["rse_expression"] == rse_expression and rule["account"] == self.settings.rucio_account:
                            found.append(rule["id"])
                return found

        return await self._call(work)

    async def rule(self, rule_id: str) -> dict[str, Any]:
        return await self._call(lambda c: c.get_replication_rule(rule_id))

    async def did_bytes(self, scope: str, name: str) -> int | None:
        """The DID's size, its files summed (datasets and containers computed by Rucio, not its cached figure)."""
        found = await self._call(lambda c: c.get_did(scope, name, dynamic_depth="FILE"))
        return int(found["bytes"]) if found.get("bytes") is not None else None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
