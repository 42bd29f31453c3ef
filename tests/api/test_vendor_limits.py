"""The body cap and the fields deadline are settings, applied to tests and fields read through the API."""

import time

import pytest

from tests.emulators.hostile import HostileServer
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_endless_answer_fails_the_step_at_the_configured_cap(api, settings):
    settings.CONNECTOR_MAX_RESPONSE_BYTES = 1024 * 1024
    with HostileServer("endless_body") as server:
        events = read_stream(
            api.post(
                api.path("destinations/test"),
                {"destination_type": "webhook", "config": {"url": f"{server.url}/hook"}},
                format="json",
            )
        )
    delivery = [e.data for e in events if e.type == "step"][-1]  # the connectivity probe is a bodiless HEAD
    assert delivery["status"] == "failed" and delivery["error"]["code"] == "vendor_error"
    assert "more than 1,048,576 bytes" in delivery["message"]


def test_fields_of_a_slow_vendor_end_at_the_fields_deadline(api, settings):
    settings.FIELDS_TIMEOUT_SECONDS = 1.0
    with HostileServer("drip_body") as server:
        settings.CONNECTOR_BASE_URLS = {"braze": server.url}
        config = {"rest_endpoint": "https://rest.iad-01.braze.com", "api_key": "a" * 36, "identifier_type": "email"}
        created = api.post(
            api.path("destinations"), {"name": "b", "destination_type": "braze", "config": config}, format="json"
        )
        assert created.status_code == 201, created.json()
        started = time.monotonic()
        answer = api.get(api.path(f"destinations/{created.json()['id']}/fields"), {"refresh": "true"})
        took = time.monotonic() - started
    assert answer.status_code == 502, answer.json()
    assert "time limit" in str(answer.json())
    assert took < 3
