"""A jupyter-notebook session on a Docker site: the notebook run headless in a container of the site's notebook
image (shared/platform/notebook_batch.py), the executed notebook left in the session's results folder."""

from __future__ import annotations

import shlex

from srcnet_eb.shared import model as m
from srcnet_eb.shared.platform import notebook_batch as batch

from .engine import ImageSummary
from .images import Choice, ImagePolicy
from .settings import DockerSettings

RESULTS_AT = "/notebook"  # the results folder in the container, when the request mounts no READWRITE storage


def image_for(notebook: m.JupyterNotebook, policy: ImagePolicy, found: list[ImageSummary],
              settings: DockerSettings) -> Choice | m.Message:
    """The request's image if this site runs it, else the site's notebook image (which it must have)."""
    site = settings.site
    if notebook.image is not None:
        choice = policy.choose(m.DockerContainer(image=notebook.image), found)
        if choice is None:
            return m.error("{site}: executable.image: {image} is not among the images this Docker host runs",
                           site=site, image=", ".join(notebook.image.locations))
        return choice
    own = m.DockerContainer(image=m.DockerImage(locations=[settings.notebook_image]))
    choice = ImagePolicy([], "never").choose(own, found)  # the site's own choice: not narrowed by the allow-list
    if choice is None:
        return m.error("{site}: executable.kind: this Docker site runs notebooks in {image}, which its host lacks",
                       site=site, image=settings.notebook_image)
    return choice


def argv(settings: DockerSettings, source: batch.Source, results_at: str) -> list[str]:
    """The container's command: the notebook, fetched into the results folder, run there."""
    folder = results_at.rstrip("/") or "/"
    filled = batch.command(settings.notebook_command, f"{folder.rstrip('/')}/{source.name}", folder,
                           source.executed)
    return shlex.split(filled)
