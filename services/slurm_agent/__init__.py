"""A Slurm site agent: the `slurm` platform plug-in (the Slurm CLI tools, via asyncio subprocesses)."""

from srcnet_eb.shared.platform.plugins import PlatformPlugin

from .platform import SlurmPlatform
from .settings import SlurmSettings

plugin = PlatformPlugin(name="slurm", settings=SlurmSettings, create=SlurmPlatform)
