"""Everything a platform plug-in author needs, in one module (as `httpx` exposes its API):

    from srcnet_eb.plugin import Platform, PlatformPlugin, PlatformSettings, Proposal, RunState, RunStatus

A plug-in implements the `Platform` port (docs/plugins.md): its settings (a `PlatformSettings`, so the
site's capacity is `EB_TOTAL_CORES`/`_MEMORY_GB`/`_GPUS`), `propose` (how big a request is, what would
run, or the NO's `error` messages), optionally `earliest_start` (or, for a platform making its own
offers, `quotes` and `withdraw`), and launch/status/cancel/extend. The
agent runtime books the offers (`Booking`), confirms and releases them, and does everything else.
`PlatformConformance` is the test kit a plug-in runs against itself.
"""

from srcnet_eb.shared import model
from srcnet_eb.shared.capacity import CapacityLedger, Demand
from srcnet_eb.shared.capacity.booking import Booking
from srcnet_eb.shared.capacity.window import Window
from srcnet_eb.shared.contracts import Capabilities
from srcnet_eb.shared.model import (Component, DockerContainer, ExecutionRequest, ExecutionSession, Level, Message,
                                    SimpleComputeResource, SingularityContainer, error, info, kinds, warn)
from srcnet_eb.shared.platform.mounts import Mount
from srcnet_eb.shared.platform.port import (Answer, NoStart, Platform, Preparation, Proposal, Quote, RunState,
                                           RunStatus)
from srcnet_eb.shared.platform.plugins import PlatformPlugin
from srcnet_eb.shared.settings import PlatformSettings
from srcnet_eb.shared.platform.conformance import PlatformConformance

__all__ = [
    # the port and what it sees
    "Platform", "Proposal", "NoStart", "Preparation", "RunState", "RunStatus", "Capabilities", "Answer", "Quote",
    "PlatformPlugin", "PlatformSettings",
    # the model types a plug-in reads and builds, and its messages
    "model", "kinds", "Component", "DockerContainer", "SingularityContainer", "ExecutionRequest",
    "ExecutionSession", "SimpleComputeResource", "Message", "Level", "error", "warn", "info", "Mount",
    # capacity, for `earliest_start` and tests
    "Demand", "CapacityLedger", "Window", "Booking",
    # the test kit
    "PlatformConformance",
]
