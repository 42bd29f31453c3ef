"""Stream tokens: a browser's EventSource follows one run with a short-lived token, never with the API token."""

import time

import pytest
import requests
from django.core import signing
from django.db import connection
from rest_framework.test import APIClient

from destinations.models import TestRun
from tests.emulators.webhook import WebhookReceiver
from tests.sse import read_stream
from tests.topology import Web, database_url, process_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(api):
    with WebhookReceiver() as receiver:
        response = api.post(
            api.path("destinations/test"),
            {"destination_type": "webhook", "config": {"url": f"{receiver.url}/hooks/in"}},
            format="json",
        )
        assert read_stream(response)[-1].type == "done"
    return TestRun.objects.get(pk=response["X-Test-Run-ID"])


def grant(client, run):
    return client.post(client.path(f"destinations/test-runs/{run.pk}/stream-token"))


def test_a_stream_token_follows_its_run_without_any_header(api, run):
    response = grant(api, run)
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["events_url"] == (
        f"http://testserver{api.path(f'destinations/test-runs/{run.pk}/events')}?stream_token={body['token']}"
    )
    events = read_stream(APIClient().get(body["events_url"]))  # no Authorization, no X-Workspace-ID
    assert [event.type for event in events] == ["step", "step", "done"]
    assert events[-1].data["test_run_id"] == str(run.pk)


def test_any_member_may_follow_a_run(viewer_api, run):
    run.workspace = viewer_api.workspace
    run.save()
    response = grant(viewer_api, run)
    assert response.status_code == 201
    assert read_stream(APIClient().get(response.json()["events_url"]))[-1].type == "done"


def test_a_stream_token_reads_its_run_and_nothing_else(api, run):
    token = grant(api, run).json()["token"]
    other = TestRun.objects.create(workspace=api.workspace, destination_type="webhook")
    anonymous = APIClient()
    assert (
        anonymous.get(api.path(f"destinations/test-runs/{other.pk}/events"), {"stream_token": token}).status_code == 404
    )
    for path in ("destinations", f"destinations/test-runs/{run.pk}"):
        assert anonymous.get(api.path(path), {"stream_token": token}).status_code == 401
    assert (
        anonymous.get(api.path(f"destinations/test-runs/{run.pk}/events"), {"stream_token": token}).status_code == 200
    )
    # and it is no bearer token
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_WORKSPACE_ID=str(api.workspace.pk))
    assert bearer.get(api.path("destinations")).status_code == 401


def test_the_api_token_is_never_accepted_in_a_url(api, run):
    events = api.path(f"destinations/test-runs/{run.pk}/events")
    anonymous = APIClient()
    for name in ("stream_token", "token", "access_token"):
        response = anonymous.get(events, {name: api.token}, HTTP_X_WORKSPACE_ID=str(api.workspace.pk))
        assert response.status_code == 401, name
    message = anonymous.get(events, {"stream_token": api.token}).json()["detail"]
    assert "never accepted in a URL" in message and api.token not in message


def test_an_expired_stream_token_says_to_ask_for_a_new_one(api, run, settings, monkeypatch):
    settings.SSE_STREAM_TOKEN_SECONDS = 60
    minted = int(time.time()) - 120  # two minutes ago
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda self: signing.b62_encode(minted))
    token = grant(api, run).json()["token"]
    monkeypatch.undo()
    response = APIClient().get(api.path(f"destinations/test-runs/{run.pk}/events"), {"stream_token": token})
    assert response.status_code == 401 and "expired" in response.json()["detail"]
    assert "stream-token" in response.json()["detail"]


def test_the_access_log_masks_the_stream_token(api, run):
    token = grant(api, run).json()["token"]
    env = process_env(database=database_url(connection.settings_dict), redis_url=None)
    with Web(env, access_log=True) as web:
        response = requests.get(
            f"{web.url}{api.path(f'destinations/test-runs/{run.pk}/events')}",
            params={"stream_token": token},
            timeout=10,
        )
        assert response.status_code == 200
        log = web.output()
    assert "stream_token=********" in log and token not in log
