"""A CANFAR (Skaha) site agent: the `canfar` platform plug-in."""

from srcnet_eb.shared.platform.plugins import PlatformPlugin

from .platform import CanfarPlatform
from .settings import CanfarSettings

plugin = PlatformPlugin(name="canfar", settings=CanfarSettings, create=CanfarPlatform)
