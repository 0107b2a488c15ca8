"""A JupyterHub site agent: the `jupyterhub` platform plug-in (notebooks as named servers, over the hub's
REST API)."""

from srcnet_eb.shared.platform.plugins import PlatformPlugin

from .platform import JupyterHubPlatform
from .settings import JupyterHubSettings

plugin = PlatformPlugin(name="jupyterhub", settings=JupyterHubSettings, create=JupyterHubPlatform)
