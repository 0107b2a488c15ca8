"""Run the Skaha stand-in on a free loopback port for the length of a test.

    with running_standin(config) as base_url:          # or: async with ...
        client = SkahaClient(base_url, token=...)      # base_url ends in /skaha
        httpx.post(base_url.control("outage"), json={"down": True})
"""

from __future__ import annotations

from ..threaded import ThreadedServer
from .app import create_app
from .config import SkahaStandInConfig


class StandInURL(str):
    """The Skaha service URL (``http://127.0.0.1:PORT/skaha``), plus the control root.

    A ``str`` so it can be handed anywhere a Skaha base URL is expected.
    """

    root: str

    def __new__(cls, root: str) -> StandInURL:
        url = super().__new__(cls, root + "/skaha")
        url.root = root
        return url

    def control(self, name: str) -> str:
        """URL of a stand-in control endpoint, e.g. ``control("outage")``."""
        return f"{self.root}/standin/{name.lstrip('/')}"


class running_standin(ThreadedServer[StandInURL]):  # noqa: N801 - used like a contextlib function
    """Serve ``create_app(config)`` with uvicorn in a thread; sync or async context manager."""

    name = "Skaha stand-in"

    def __init__(self, config: SkahaStandInConfig, *, host: str = "127.0.0.1",
                 startup_timeout: float = 10.0) -> None:
        super().__init__(host=host, startup_timeout=startup_timeout)
        self._config = config

    def build(self, root: str) -> tuple[object, StandInURL, str]:
        url = StandInURL(root)
        return create_app(self._config), url, url.control("health")
