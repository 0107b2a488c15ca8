"""Stand-in for the CANFAR Skaha science platform's v1 REST API (test/dev double).

Not part of the broker: the CANFAR agent talks to it exactly as to a real Skaha.
"""

from .app import create_app
from .config import SkahaStandInConfig, StandInImage, load_config
from .server import StandInURL, running_standin

__all__ = [
    "SkahaStandInConfig", "StandInImage", "StandInURL", "create_app", "load_config",
    "running_standin",
]
