"""Where a jupyter-notebook executable's `location` is, for the platforms that open notebooks (CANFAR's
Skaha sessions, JupyterHub's servers): both run JupyterLab, which opens a file at `lab/tree/<path>`."""

from __future__ import annotations

import posixpath
from urllib.parse import quote, unquote, urlsplit


def path_of(location: str) -> str | None:
    """The notebook's path on the platform (relative paths are the user's home's), or None if it is remote."""
    parts = urlsplit(location)
    if parts.scheme == "file":
        return posixpath.normpath(unquote(parts.path)) if parts.path.startswith("/") else None
    if parts.scheme or parts.netloc:
        return None
    path = location.strip()
    return posixpath.normpath(path) if path.startswith("/") else posixpath.normpath(path).lstrip("/") or None


def lab_tree(server_url: str, path: str) -> str:
    """The URL that opens `path` (relative to the server's root) in the JupyterLab served at `server_url`."""
    return server_url.rstrip("/") + "/lab/tree/" + quote(path.lstrip("/"))
