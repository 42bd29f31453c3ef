"""Fixtures of this folder's tests: the webhook receiver (tests/hooks.py)."""

from tests.hooks import receiver  # noqa: F401  (fixtures)
