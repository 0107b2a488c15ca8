"""The embedded default: the whole broker on one machine, one command."""
