"""Jupyter notebooks on Skaha: which image a notebook opens in, and the URL that opens it.

Skaha's notebook sessions run JupyterLab with its root at `/` and answer a connect URL
`https://<host>/session/notebook/<id>/lab/tree/arc/home/<user>?token=<id>` (opencadc skaha
SessionURLBuilder). JupyterLab opens the file at `lab/tree/<path>`, so a notebook on the platform's
filesystem (an absolute path, `file://` URL, or a path relative to the user's home) is opened by
pointing that URL at it. Skaha hands neither command nor environment to interactive sessions, so a
notebook that lives elsewhere (an http URL) cannot be brought into one: the site says so.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, urlsplit, urlunsplit

from srcnet_eb.shared import model as m
from srcnet_eb.shared.platform.notebooks import path_of

from . import images
from .skaha_types import SkahaImage

NOTEBOOK = "notebook"


def image_for(notebook: m.JupyterNotebook, offered: list[SkahaImage], default: str | None,
              site: str) -> SkahaImage | m.Message:
    """The named image if the site offers it for notebooks, else the site's default notebook image."""
    usable = [i for i in offered if NOTEBOOK in i.types]
    if notebook.image is not None:
        wanted = m.DockerContainer(image=notebook.image)
        found = images.find(wanted, usable)
        if found is not None:
            return found
        why = "is not offered" if images.find(wanted, offered) is None else "is offered, but not for notebook sessions"
        return m.error("{site}: notebook image {image} {why}", site=site, image=wanted.location, why=why)
    if default:
        found = images.find(m.DockerContainer(image=m.DockerImage(locations=[default])), usable)
        if found is None:
            return m.error("{site}: the site's notebook image {image} is not offered for notebook sessions",
                           site=site, image=default)
        return found
    if not usable:
        return m.error("{site}: offers no image for notebook sessions", site=site)
    return usable[0]


def check_location(notebook: m.JupyterNotebook, site: str) -> m.Message | None:
    if path_of(notebook.location) is not None:
        return None
    return m.error("{site}: notebook {location} is not on the site's filesystem; a Skaha notebook session opens "
                   "notebooks under /arc (give its path, e.g. /arc/projects/<project>/<notebook>.ipynb)",
                   site=site, location=notebook.location)


def open_url(connect_url: str, location: str) -> str:
    """Skaha's connect URL pointed at the notebook: `.../lab/tree/<path>?token=...`."""
    path = path_of(location)
    parts = urlsplit(connect_url)
    head, marker, home = parts.path.partition("/lab/tree/")
    if path is None or not marker:
        return connect_url
    target = path.lstrip("/") if path.startswith("/") else posixpath.join(home.rstrip("/"), path)
    return urlunsplit(parts._replace(path=f"{head}/lab/tree/{quote(target)}"))
