"""What a Skaha session for an executable is: image, session type, command. Made once when offering (to
say YES or NO) and again when launching (the image list may have changed meanwhile).

* docker-container: the image itself; `headless` when the request gives an entrypoint or a 2026-07
  `command`, else the image's interactive type (see sessions.session_type). Skaha makes `cmd` the
  pod's `command` (Docker's ENTRYPOINT) and `args`, split on single spaces, its `args` (Docker's
  CMD): so the entrypoint's first word is `cmd`, its other words and then `command` are `args`;
  `command` alone is `args` to the image's own entrypoint. A word Skaha would split or garble
  (whitespace, a double quote or backslash, empty) is a NO.
* jupyter-notebook: a `notebook` session of the image the request names (if the site offers it for
  notebooks) or the site's default notebook image; the location is opened through the connect URL.
* singularity-container: where the site sets `singularity_image`, a headless session of that image
  running `<singularity_command> <location>`; elsewhere a NO that says so.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from srcnet_eb.shared import model as m

from . import images, notebooks
from .settings import CanfarSettings
from .skaha_types import SkahaImage

HEADLESS = "headless"
INTERACTIVE_TYPES = ("notebook", "desktop", "carta", "firefly", "contributed")  # preference order


@dataclass(frozen=True)
class LaunchPlan:
    image: SkahaImage
    type: str
    executable: m.Component  # as offered: a notebook names the image it opens in
    cmd: str | None = None
    args: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def session_type(executable: m.DockerContainer, image_types: tuple[str, ...]) -> str:
    interactive = [t for t in image_types if t in INTERACTIVE_TYPES]
    if executable.entrypoint or executable.command or not interactive:
        return HEADLESS
    return "notebook" if "notebook" in interactive else interactive[0]


def _words(entrypoint: str | None) -> list[str]:
    if not entrypoint or not entrypoint.strip():
        return []
    try:
        return [w for w in shlex.split(entrypoint) if w]
    except ValueError:  # unbalanced quotes: Skaha splits on spaces anyway
        return entrypoint.split()


def command(entrypoint: str | None, arguments: list[str] | None = None) -> tuple[str | None, str | None]:
    """``("python run.py", ["-v"])`` -> ``("python", "run.py -v")``; ``(None, ["-v"])`` -> ``(None, "-v")``."""
    words = _words(entrypoint)
    cmd, rest = (words[0], words[1:]) if words else (None, [])
    rest += arguments or []
    return cmd, (" ".join(rest) or None)


def unpassable(entrypoint: str | None, arguments: list[str] | None) -> str | None:
    """The first word Skaha cannot hand over intact (it splits args on " " and quotes them unescaped)."""
    for word in [*_words(entrypoint), *(arguments or [])]:
        if not word or any(c.isspace() or c in '"\\' for c in word):
            return word
    return None


def kinds_run(settings: CanfarSettings) -> list[str]:
    found = [m.kinds.DOCKER_CONTAINER, m.kinds.JUPYTER_NOTEBOOK]
    return found + ([m.kinds.SINGULARITY_CONTAINER] if settings.singularity_image else [])


def plan(executable: m.Component | None, offered: list[SkahaImage], settings: CanfarSettings) -> LaunchPlan | m.Message:
    site = settings.site
    if isinstance(executable, m.DockerContainer):
        image = images.find(executable, offered)
        if image is None:
            return m.error("{site}: image {image} is not offered{digest}", site=site, image=executable.location,
                           digest=f" with digest {executable.image.digest}" if executable.image.digest else "")
        bad = unpassable(executable.entrypoint, executable.command)
        if bad is not None:
            return m.error("{site}: Skaha cannot pass the argument '{word}' whole (it splits arguments on spaces "
                           "and does not escape quotes or backslashes)", site=site, word=bad)
        stype = session_type(executable, image.types)
        if stype not in image.types:  # Skaha refuses a type the image is not labelled with
            return m.error("{site}: image {image} is labelled {types}: no session type to run it{why}", site=site,
                           image=image.id, types=", ".join(image.types) or "with no type",
                           why=" with an entrypoint or command (that needs headless)"
                           if executable.entrypoint or executable.command else "")
        cmd, args = command(executable.entrypoint, executable.command) if stype == HEADLESS else (None, None)
        # cmd, args and env reach headless sessions only (Skaha builds them into the headless job alone).
        return LaunchPlan(image, stype, executable, cmd, args, executable.environment if stype == HEADLESS else {})
    if isinstance(executable, m.JupyterNotebook):
        found = notebooks.image_for(executable, offered, settings.notebook_image, site)
        if isinstance(found, m.Message):
            return found
        where = notebooks.check_location(executable, site)
        if where is not None:
            return where
        named = executable.model_copy(update={"image": m.DockerImage(locations=[found.id], digest=found.digest)})
        return LaunchPlan(found, notebooks.NOTEBOOK, named)
    if isinstance(executable, m.SingularityContainer):
        return _singularity(executable, offered, settings)
    kind = getattr(executable, "kind", None)
    return m.error("{site}: this CANFAR site runs {kinds}, not {kind}", site=site, kind=m.kinds.short(kind) if kind else "nothing",
                   kinds=", ".join(m.kinds.short(k) for k in kinds_run(settings)))


def _singularity(executable: m.SingularityContainer, offered: list[SkahaImage], settings: CanfarSettings) -> LaunchPlan | m.Message:
    site, runner = settings.site, settings.singularity_image
    if not runner:
        return m.error("{site}: this CANFAR site runs no Singularity images (it runs {kinds})", site=site,
                       kinds=", ".join(m.kinds.short(k) for k in kinds_run(settings)))
    image = images.find(m.DockerContainer(image=m.DockerImage(locations=[runner])), offered)
    if image is None or HEADLESS not in image.types:
        return m.error("{site}: the site's Singularity image {image} is not offered for headless sessions",
                       site=site, image=runner)
    if any(c.isspace() for c in executable.location):  # Skaha splits args on spaces, quotes or not
        return m.error("{site}: Singularity image {location}: Skaha cannot pass a location with spaces",
                       site=site, location=executable.location)
    cmd, *words = settings.singularity_command.split()
    return LaunchPlan(image, HEADLESS, executable, cmd, " ".join([*words, executable.location]))
