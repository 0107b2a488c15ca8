"""Executables: Docker/OCI and Singularity containers, Jupyter notebooks."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from . import kinds
from .base import Component, Open, UnknownComponent, Wire


class DockerPlatform(Open):
    architecture: str | None = None
    os: str | None = None


class DockerImage(Open):
    locations: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    digest: str | None = None
    platform: DockerPlatform | None = None


class DockerPort(BaseModel):
    model_config = ConfigDict(extra="allow")

    access: bool | None = None
    protocol: str | None = None
    path: str | None = None


class DockerNetwork(Open):
    ports: list[DockerPort] = Field(default_factory=list)


class AccessMethod(Wire):
    status: Literal["PREPARING", "ACTIVE", "FINISHED"] | None = None
    protocol: str | None = None
    locations: list[str] = Field(default_factory=list)


class DockerContainer(Component):
    kind: Literal[kinds.DOCKER_CONTAINER] = kinds.DOCKER_CONTAINER
    image: DockerImage
    privileged: bool = False
    entrypoint: str | None = None
    command: list[str] | None = Field(None, description="2026-07: arguments passed to the entrypoint")
    environment: dict[str, str] = Field(default_factory=dict)
    network: DockerNetwork | None = None
    access: list[AccessMethod] = Field(default_factory=list)

    @property
    def location(self) -> str:
        return self.image.locations[0]


class SingularityContainer(Component):
    kind: Literal[kinds.SINGULARITY_CONTAINER] = kinds.SINGULARITY_CONTAINER
    location: str = Field(min_length=1)
    access: list[AccessMethod] = Field(default_factory=list)


class JupyterNotebook(Component):
    kind: Literal[kinds.JUPYTER_NOTEBOOK] = kinds.JUPYTER_NOTEBOOK
    location: str = Field(min_length=1, description="the notebook: a path on the site (absolute, or relative to "
                                                    "the user's home) or a URL")
    image: DockerImage | None = Field(None, description="Extension: the container image to open the notebook in; "
                                                        "absent: the site's default notebook image (filled in on offers)")
    access: list[AccessMethod] = Field(default_factory=list)


def by_kind(known: frozenset[str]):
    """A discriminator that sends unknown kinds to UnknownComponent instead of failing."""

    def pick(value: Any) -> str | None:
        found = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
        if found is None:
            return None
        # Not a string (a list, say): the unknown component's `kind: str` then names the field.
        return found if isinstance(found, str) and found in known else "unknown"

    return Discriminator(pick, custom_error_type="missing_kind", custom_error_message="a 'kind' is required")


Executable = Annotated[
    Annotated[DockerContainer, Tag(kinds.DOCKER_CONTAINER)]
    | Annotated[SingularityContainer, Tag(kinds.SINGULARITY_CONTAINER)]
    | Annotated[JupyterNotebook, Tag(kinds.JUPYTER_NOTEBOOK)]
    | Annotated[UnknownComponent, Tag("unknown")],
    by_kind(frozenset({kinds.DOCKER_CONTAINER, kinds.SINGULARITY_CONTAINER, kinds.JUPYTER_NOTEBOOK})),
]
