"""Another IVOA Execution Broker as a site: the `ebroker` platform plug-in. Requests are forwarded over
HTTP (either dialect: 2026-07 `POST /requests`, 2026-05 `POST /offersets`), the remote's offers become
ours (same session uuids), and accept, reject, cancel and the session's phases follow through it, so
brokers federate brokers."""

from srcnet_eb.shared.platform.plugins import PlatformPlugin

from .platform import BrokerPlatform
from .settings import BrokerSettings

plugin = PlatformPlugin(name="ebroker", settings=BrokerSettings, create=BrokerPlatform)
