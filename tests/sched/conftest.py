"""Helpers for the scheduled checks, notifications and test jobs."""

from __future__ import annotations

import time

import pytest

from destinations.models import TestRun
from tests.admin.conftest import staff, staff_user  # noqa: F401  (the admin tests' fixtures)
from tests.emulators.notification_receiver import NotificationReceiver
from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory

API_KEY = "k-good"


@pytest.fixture
def receiver():
    """The destinations' vendor: a webhook endpoint accepting only API_KEY."""
    with WebhookReceiver(required_headers={"X-API-Key": API_KEY}) as server:
        yield server


@pytest.fixture
def notification_receiver():
    with NotificationReceiver() as server:
        yield server


def hook(receiver, key=API_KEY, **kwargs):
    return DestinationFactory(
        config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": key}}, **kwargs
    )


def wait_for(condition, timeout=10.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(every)
    raise AssertionError("timed out waiting")


def wait_runs_finished(timeout=10.0):
    wait_for(lambda: not TestRun.objects.filter(finished_at__isnull=True).exists(), timeout)
