"""A request to stop that a signal handler may make.

`threading.Event.set()` takes the lock that the main thread holds for a moment inside `Event.wait()`.
A signal handler runs on the main thread, so a Ctrl-C that lands at that moment deadlocks: a test's
SIGINT once left a whole `ebroker up` running. Setting a flag takes no lock; `wait` sleeps in short
steps and reads it."""

from __future__ import annotations

import time


class Stopping:
    def __init__(self) -> None:
        self._requested = False

    def set(self) -> None:
        self._requested = True

    def wait(self, timeout: float) -> bool:
        """True once a stop is requested; otherwise after `timeout` seconds, False."""
        if not self._requested:
            time.sleep(timeout)
        return self._requested
