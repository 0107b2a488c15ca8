"""What a JupyterHub site would run for a request: a notebook server of one image and size, or why not.
Each refusal names the request's field."""

from __future__ import annotations

import re

from srcnet_eb.shared import model as m
from srcnet_eb.shared.capacity import Demand
from srcnet_eb.shared.platform.notebooks import path_of

from .settings import JupyterHubSettings


def image_for(notebook: m.JupyterNotebook, settings: JupyterHubSettings) -> str | None | m.Message:
    """The image the server opens in (None: the spawner's own), or why not."""
    site, offered = settings.site, settings.images
    if notebook.image is None:
        return offered[0] if offered else None
    wanted = notebook.image.locations
    for image in offered:
        if image in wanted:
            return image
    return m.error("{site}: executable.image: {image} is not a notebook image of this hub (it offers {offered})",
                   site=site, image=", ".join(wanted), offered=", ".join(offered) or "only its own default image")


def notebook_path(location: str, settings: JupyterHubSettings) -> str | m.Message:
    """The notebook's path relative to the user's server root, or why the hub cannot open it."""
    site, path = settings.site, path_of(location)
    if path is None:
        return m.error("{site}: executable.location: {location} is not on the hub's filesystem (give a path "
                       "relative to the user's home)", site=site, location=location)
    if not path.startswith("/"):
        return path
    root = (settings.notebook_root or "").rstrip("/")
    # Any user's root: the server URL, not the request, says whose (the request has no user in it).
    pattern = re.escape(root).replace(re.escape("{username}"), "[^/]+") if root else None
    found = re.match(f"^{pattern}/(.+)$", path) if pattern else None
    if found:
        return found.group(1)
    return m.error("{site}: executable.location: {location} is outside the users' notebook servers "
                   "({root}); give a path relative to the user's home", site=site, location=location,
                   root=settings.notebook_root or "their home directories")


def size(compute: m.SimpleComputeResource, settings: JupyterHubSettings) -> Demand | list[m.Message]:
    """The smallest server the request allows, within one server's limits."""
    site, why = settings.site, []
    cores = compute.cores.min if compute.cores and compute.cores.min else 1
    memory = compute.memory.min if compute.memory and compute.memory.min else 1
    gpus = compute.gpus().min or 0
    if cores > settings.max_cores:
        why.append(m.error("{site}: compute.cores: {asked} asked, a notebook server here has at most {most}",
                           site=site, asked=cores, most=settings.max_cores))
    if memory > settings.max_memory_gb:
        why.append(m.error("{site}: compute.memory: {asked} GiB asked, a notebook server here has at most {most} GiB",
                           site=site, asked=memory, most=settings.max_memory_gb))
    if gpus > settings.max_gpus:
        why.append(m.error("{site}: compute.accelerators: {asked} GPUs asked, a notebook server here has at most "
                           "{most}", site=site, asked=gpus, most=settings.max_gpus))
    return why or Demand(cores, memory, gpus)
