"""Match a requested container image against a Skaha site's image list."""

from __future__ import annotations

from srcnet_eb.shared.model import DockerContainer

from .skaha_types import SkahaImage


def normalize(reference: str) -> str:
    """`docker://Reg/ns/img` -> `reg/ns/img:latest`; image ids are compared in this form."""
    ref = reference.strip().removeprefix("docker://")
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    registry, slash, rest = name.partition("/")
    name = registry.lower() + slash + rest if slash else name
    return name + ("@" + digest if digest else "")


def find(executable: DockerContainer, images: list[SkahaImage]) -> SkahaImage | None:
    wanted = {normalize(loc) for loc in executable.image.locations}
    digest = executable.image.digest
    for image in images:
        if normalize(image.id) in wanted and (digest is None or image.digest == digest):
            return image
    return None
