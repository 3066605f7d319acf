"""Helpers that run the real parts of the system for tests."""
