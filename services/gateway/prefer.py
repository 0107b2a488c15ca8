"""RFC 7240 `Prefer: wait=N`."""

from __future__ import annotations


def wait_seconds(header: str | None, cap: float) -> float:
    """Seconds the client prefers to wait (0 when absent or malformed), capped by the server."""
    if not header:
        return 0.0
    for preference in header.split(","):
        token = preference.split(";", 1)[0].strip()
        name, _, value = token.partition("=")
        if name.strip().lower() == "wait":
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                return 0.0
            return max(0.0, min(seconds, cap))
    return 0.0
