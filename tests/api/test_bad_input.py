"""Hostile input is a 400 (or a JSON 404) with the one error shape, never a 500, and never a stored row."""

import json

import pytest

from destinations.models import Destination

pytestmark = pytest.mark.django_db(transaction=True)

WEBHOOK = {"name": "hook", "destination_type": "webhook", "config": {"url": "https://api.example.com/in"}}


def post_raw(api, path, text: str, **extra):
    return api.post(api.path(path), data=text, content_type="application/json", **extra)


def assert_json_error(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({**WEBHOOK, "config": {"url": "https://api.example.com/in\x00"}}, "config.url"),
        ({**WEBHOOK, "name": "a\x00b"}, "name"),
        ({**WEBHOOK, "config": {**WEBHOOK["config"], "headers": {"X-Key\x00": "v"}}}, "config.headers"),
    ],
)
def test_a_nul_character_anywhere_is_a_400_naming_the_field(api, body, path):
    response = post_raw(api, "destinations", json.dumps(body))
    assert_json_error(response, 400)
    assert any(key.startswith(path) for key in response.json()["errors"])
    assert not Destination.objects.exists()


def test_a_lone_surrogate_is_a_400_and_stores_nothing(api):
    text = json.dumps(WEBHOOK).replace('"hook"', '"\\ud800"')
    response = post_raw(api, "destinations", text)
    assert_json_error(response, 400)
    assert "name" in response.json()["errors"]
    assert not Destination.objects.exists()
    assert api.get(api.path("destinations")).status_code == 200


def test_a_config_nested_thousands_deep_is_a_400(api):
    nested = '{"a":' * 5000 + "1" + "}" * 5000
    text = json.dumps({**WEBHOOK, "config": "PLACEHOLDER"}).replace('"PLACEHOLDER"', nested)
    response = post_raw(api, "destinations", text)
    assert_json_error(response, 400)


def test_json_that_is_not_json_is_a_400(api):
    assert_json_error(post_raw(api, "destinations", '{"name": '), 400)


def test_an_oversized_body_is_a_json_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = {**WEBHOOK, "config": {**WEBHOOK["config"], "method": "x" * 20_000}}
    response = post_raw(api, "destinations", json.dumps(body))
    assert_json_error(response, 413)


@pytest.mark.parametrize(
    "suffix",
    [
        "destinations/not-a-uuid",
        "destinations/not-a-uuid/test-runs",
        "destinations/",
        "destinations/test-runs/123",
        "connections/xyz",
        "no-such-thing",
    ],
)
def test_every_404_under_the_api_is_json(api, suffix):
    response = api.get(f"/api/v1/workspaces/{api.workspace.pk}/{suffix}")
    assert_json_error(response, 404)


def test_a_non_uuid_workspace_is_a_json_404(api):
    assert_json_error(api.get("/api/v1/workspaces/nope/destinations"), 404)


def test_one_400_reports_every_invalid_field_at_once(api):
    body = {"name": "", "destination_type": "webhook", "config": {"url": "not a url"}}
    response = api.post(api.path("destinations"), body, format="json")
    assert_json_error(response, 400)
    assert {"name", "config.url"} <= set(response.json()["errors"])


@pytest.mark.parametrize("limit", ["0", "abc", "-1", "101", "1.5"])
def test_an_invalid_limit_is_a_400(api, limit):
    destination = api.post(api.path("destinations"), WEBHOOK, format="json").json()
    response = api.get(api.path(f"destinations/{destination['id']}/test-runs"), {"limit": limit})
    assert_json_error(response, 400)
    assert "limit" in response.json()["errors"]


@pytest.mark.parametrize("refresh", ["maybe", "2"])
def test_an_invalid_refresh_flag_is_a_400(api, refresh):
    destination = api.post(api.path("destinations"), WEBHOOK, format="json").json()
    response = api.get(api.path(f"destinations/{destination['id']}/fields"), {"refresh": refresh})
    assert_json_error(response, 400)
    assert "refresh" in response.json()["errors"]
