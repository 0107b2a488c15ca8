"""A Docker site agent: the `docker` platform plug-in (the Docker Engine API over its unix socket)."""

from srcnet_eb.shared.platform.plugins import PlatformPlugin

from .platform import DockerPlatform
from .settings import DockerSettings

plugin = PlatformPlugin(name="docker", settings=DockerSettings, create=DockerPlatform)
