"""The common agent runtime every platform agent runs in."""

from .runtime import AgentRuntime

__all__ = ["AgentRuntime"]
