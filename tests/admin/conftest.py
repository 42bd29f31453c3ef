"""Fixtures for the admin tests: a webhook receiver (the logged-in staff client is tests/conftest.py's)."""

from __future__ import annotations

import pytest

from tests.emulators.webhook import WebhookReceiver

API_KEY = "k-123"


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": API_KEY}) as server:
        yield server
