"""GET .../fields: live answers cached per destination, ?refresh=true, vendor failures as 502."""

import pytest

from tests.emulators.hubspot import HubSpotEmulator, valid_config


@pytest.fixture
def hubspot(settings):
    with HubSpotEmulator() as emulator:
        settings.CONNECTOR_BASE_URLS = {"hubspot": emulator.url}
        yield emulator


@pytest.fixture
def destination_id(api, hubspot):
    body = {"name": "CRM", "destination_type": "hubspot", "config": valid_config(hubspot)}
    return api.post(api.path("destinations"), body, format="json").json()["id"]


def test_live_fields_are_cached_and_refreshed_on_demand(api, hubspot, destination_id):
    path = api.path(f"destinations/{destination_id}/fields")
    first = api.get(path).json()
    assert first["source"] == "live" and first["object"] == "contacts"
    email = next(f for f in first["fields"] if f["name"] == "email")
    assert email["identifier"] is True
    assert len(hubspot.calls_to("properties")) == 1

    assert api.get(path).json() == first
    assert len(hubspot.calls_to("properties")) == 1  # served from the cache

    refreshed = api.get(path, {"refresh": "true"}).json()
    assert len(hubspot.calls_to("properties")) == 2
    assert refreshed["fetched_at"] > first["fetched_at"]


def test_config_change_drops_the_cache(api, hubspot, destination_id):
    path = api.path(f"destinations/{destination_id}/fields")
    api.get(path)
    api.put(api.path(f"destinations/{destination_id}"), {"config": {"object_type": "companies"}}, format="json")
    assert api.get(path).json()["object"] == "companies"
    assert len(hubspot.calls_to("properties")) == 2


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, {"status": "error", "message": "internal", "category": "INTERNAL_ERROR"}, "vendor_error"),
        (401, {"status": "error", "message": "bad token", "category": "INVALID_AUTHENTICATION"}, "auth_invalid"),
    ],
)
def test_vendor_failure_is_a_502_with_the_step_style_error(api, hubspot, destination_id, status, body, code):
    hubspot.fail("properties", status, body)
    response = api.get(api.path(f"destinations/{destination_id}/fields"), {"refresh": "true"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == code
    assert response.json()["detail"]
    assert "remediation" in response.json()["error"]
