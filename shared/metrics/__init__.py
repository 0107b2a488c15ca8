"""Prometheus metrics of every process: their definitions (`registry.py`) and what serves, publishes and
gathers them. Call sites elsewhere hold one-line hooks only."""
