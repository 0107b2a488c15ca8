"""Test kit for platform plug-ins (pytest)."""
