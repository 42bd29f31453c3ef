"""CORS: web apps on the allow-listed origins call the API from a browser; nobody else does."""

import pytest

from tests.emulators.webhook import WebhookReceiver
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

APP = "https://app.example.com"


@pytest.fixture
def allowed(settings):
    settings.CORS_ALLOWED_ORIGINS = [APP]


def preflight(api, path, origin=APP, method="POST", headers="authorization,x-workspace-id,idempotency-key"):
    return api.client.generic(
        "OPTIONS",
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers,
        HTTP_AUTHORIZATION="",
    )


def test_a_preflight_from_an_allowed_origin_needs_no_token_and_allows_the_api_headers(api, allowed):
    api.client.credentials()  # a browser sends no Authorization with a preflight
    response = preflight(api, api.path("destinations/test"), headers="authorization,x-workspace-id,idempotency-key")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    allowed_headers = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-workspace-id", "idempotency-key", "last-event-id", "content-type"} <= allowed_headers
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response  # bearer tokens, never cookies


def test_an_allowed_origin_may_read_the_run_id_and_link_headers(api, allowed):
    with WebhookReceiver() as receiver:
        response = api.post(
            api.path("destinations/test"),
            {"destination_type": "webhook", "config": {"url": f"{receiver.url}/hooks/in"}},
            format="json",
            HTTP_ORIGIN=APP,
        )
        assert read_stream(response)[-1].type == "done"
    assert response["Access-Control-Allow-Origin"] == APP
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"x-test-run-id", "link"} <= exposed
    listing = api.get(api.path("destinations"), HTTP_ORIGIN=APP)
    assert listing.status_code == 200 and listing["Access-Control-Allow-Origin"] == APP


def test_other_origins_get_no_cors_headers(api, allowed):
    response = preflight(api, api.path("destinations"), origin="https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in api.get(
        api.path("destinations"), HTTP_ORIGIN="https://evil.example.net"
    )


def test_no_origin_is_allowed_by_default(api):
    response = preflight(api, api.path("destinations"))
    assert "Access-Control-Allow-Origin" not in response


def test_the_admin_is_never_cross_origin(client, allowed):
    response = client.generic("OPTIONS", "/admin/login/", HTTP_ORIGIN=APP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert "Access-Control-Allow-Origin" not in response
