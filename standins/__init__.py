"""Local stand-ins (test/dev doubles) for external platforms the broker talks to.

Nothing here is part of the broker itself."""
