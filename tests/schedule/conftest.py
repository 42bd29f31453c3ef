"""Fixtures of this folder's tests: the webhook and notification receivers (tests/hooks.py)."""

from tests.hooks import notification_receiver, receiver  # noqa: F401  (fixtures)
