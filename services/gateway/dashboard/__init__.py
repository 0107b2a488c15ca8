"""The web dashboard at `/ui`: a static page and its own small scripts, served by the gateway."""

from .routes import DashboardConfig, install

__all__ = ["DashboardConfig", "install"]
