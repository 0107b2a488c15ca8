"""Rucio site agent: data locality and staging (next issue)."""
