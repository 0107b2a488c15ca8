"""Free loopback ports and waiting for a listener."""

from __future__ import annotations

import socket
import time


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s") from None
            time.sleep(0.02)


class PortBusy(Exception):
    """The port `ebroker up` was asked to serve on is taken: said before any child starts."""


def check_free(port: int, host: str = "127.0.0.1") -> None:
    """Raise PortBusy when `port` cannot be bound, as uvicorn would bind it (SO_REUSEADDR: a port left in
    TIME_WAIT by a broker just stopped is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortBusy(f"port {port} on {host} is already in use ({exc.strerror}); stop what listens there "
                           f"or choose another: ebroker up --port N (make up PORT=N)") from None
