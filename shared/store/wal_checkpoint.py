"""Checkpointing the SQLite WAL beside the hot path, not inside it.

SQLite's own checkpoint (past 1000 pages, run by whichever connection commits then) copies megabytes of
pages inside that COMMIT: on the lane's thread the next unit of work waits for it (at 20 sites, 1.7 ms of
every OfferSet's completing write on average). Here a thread of its own runs a PASSIVE checkpoint (it
blocks no writer or reader) at most once a `interval`, after the lane has written; a page rewritten many
times meanwhile (an index's, a table's tail) is copied once. SQLite's own stays as a backstop at
`BACKSTOP_PAGES`, should this one fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

BACKSTOP_PAGES = 10_000  # wal_autocheckpoint of the broker's connections: 40 MB of WAL at 4 KiB pages


class WalCheckpointer:
    def __init__(self, path: str, interval: float = 1.0) -> None:
        self.path, self.interval = path, interval
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._running = False
        self._last = time.monotonic()

    def written(self) -> None:
        """After a unit of work that wrote (on the lane's thread): checkpoint if one is due."""
        now = time.monotonic()
        if not self._running and now - self._last >= self.interval:
            self._running, self._last = True, now
            self._thread.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the backstop checkpoints instead; nothing is lost
            log.warning("WAL checkpoint of %s failed: %r", self.path, exc)
        finally:
            self._running = False

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._thread.submit(self._close)
        self._thread.shutdown(wait=True)
