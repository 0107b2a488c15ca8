"""Persistence of OfferSets and sessions through SQLAlchemy (SQLite by default, PostgreSQL by URL)."""

from .repository import Store

__all__ = ["Store"]
