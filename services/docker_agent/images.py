"""Which images a Docker site runs: the ones its engine has, narrowed by the site's allow-list, plus (with
`pull: if-allowed`) the allow-listed ones it may pull at launch."""

from __future__ import annotations

from dataclasses import dataclass

from srcnet_eb.shared.model import DockerContainer

from .engine import ImageSummary


def normalize(reference: str) -> str:
    """`docker://docker.io/library/busybox` -> `busybox:latest`, as the engine names its images (RepoTags)."""
    ref = reference.strip().removeprefix("docker://")
    name, at, digest = ref.partition("@")
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"):
        if name.startswith(prefix):
            name = name.removeprefix(prefix)
            break
    if ":" not in name.rsplit("/", 1)[-1] and not digest:
        name += ":latest"
    return name + at + digest


@dataclass(frozen=True)
class Choice:
    """The image a session would run: the engine's own tag, and whether it must be pulled first."""

    reference: str
    pull: bool = False


class ImagePolicy:
    def __init__(self, allowed: list[str], pull: str) -> None:
        self.allowed = {normalize(a) for a in allowed}
        self.pull = pull == "if-allowed"

    def usable(self, found: list[ImageSummary]) -> set[str]:
        """Every reference a session may name here (the capabilities' image list)."""
        local = {normalize(tag) for image in found for tag in image.repo_tags or [] if tag != "<none>:<none>"}
        if not self.allowed:
            return local
        return self.allowed if self.pull else local & self.allowed

    def choose(self, executable: DockerContainer, found: list[ImageSummary]) -> Choice | None:
        """The first of the request's locations this site runs (and, given a digest, has with that digest)."""
        digest = executable.image.digest
        for location in executable.image.locations:
            wanted = normalize(location)
            if self.allowed and wanted.split("@")[0] not in self.allowed:
                continue
            for image in found:
                tags = {normalize(t) for t in image.repo_tags or []}
                digests = {d.split("@", 1)[-1] for d in image.repo_digests or []} | {image.id}
                if (wanted in tags or wanted.split("@")[-1] in digests) and (digest is None or digest in digests):
                    return Choice(wanted if wanted in tags else image.id)
            if self.pull and digest is None:
                return Choice(wanted, pull=True)
        return None
