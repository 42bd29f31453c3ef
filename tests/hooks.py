"""A webhook destination to test against, a notification receiver, and waiting: what the schedule, job,
command, monitoring-admin and ops tests share. Test modules import the fixtures they use from here."""

from __future__ import annotations

import threading
import time

import pytest

from destinations.models import TestRun
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


def hold_delivery(receiver) -> threading.Event:
    """The receiver holds each delivery (POST) until the returned event is set; HEAD answers at once."""
    release = threading.Event()
    original = receiver.on_hook

    def held(request, name):
        if request.method == "POST":
            release.wait(30)
        return original(request, name)

    receiver.on_hook = held
    return release
