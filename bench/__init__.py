"""Benchmarks: run with `make bench` (or `python -m bench.offersets`); they print their figures."""
