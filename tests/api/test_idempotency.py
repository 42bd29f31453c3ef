"""Idempotency-Key on the create and test endpoints: replay, 422 on another body, no double rows."""

import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.utils import timezone

from destinations.models import Connection, Destination, IdempotencyKey, TestRun
from tests.conftest import ApiClient
from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory
from tests.sse import read_stream

SECRET = "idem-secret-4b1c"
BODY = {
    "name": "Orders",
    "destination_type": "webhook",
    "config": {"url": "https://hooks.example.com/in", "headers": {"X-API-Key": SECRET}},
}


def post(api, suffix, body, key, **extra):
    return api.post(api.path(suffix), body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)


@pytest.mark.django_db
def test_same_key_same_body_replays_the_create_without_a_second_row(api):
    first = post(api, "destinations", BODY, "k-1")
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # the replay re-reads the destination: a rename since shows
    api.put(api.path(f"destinations/{first.json()['id']}"), {"name": "Orders (renamed)"}, format="json")
    again = post(api, "destinations", dict(reversed(BODY.items())), "k-1")  # key order does not matter
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"] and again.json()["name"] == "Orders (renamed)"
    assert SECRET not in again.content.decode()
    assert Destination.objects.count() == 1
    # no key: a second destination, as before
    assert api.post(api.path("destinations"), BODY, format="json").status_code == 201
    assert Destination.objects.count() == 2


@pytest.mark.django_db
def test_same_key_other_body_or_endpoint_is_422_naming_the_key(api):
    assert post(api, "destinations", BODY, "k-2").status_code == 201
    for suffix, body in [
        ("destinations", {**BODY, "name": "Other"}),
        ("connections", {"name": "c", "destination_type": "webhook", "credentials": {}}),
    ]:
        response = post(api, suffix, body, "k-2")
        assert response.status_code == 422
        assert list(response.json()["errors"]) == ["Idempotency-Key"]
        assert "'k-2'" in response.json()["detail"]
    assert Destination.objects.count() == 1 and Connection.objects.count() == 0


@pytest.mark.django_db
def test_keys_are_per_workspace_and_expire(api, other_api):
    mine = post(api, "destinations", BODY, "shared-key").json()
    theirs = post(other_api, "destinations", BODY, "shared-key")
    assert theirs.status_code == 201 and theirs.json()["id"] != mine["id"]

    IdempotencyKey.objects.filter(workspace=api.workspace).update(created_at=timezone.now() - timedelta(hours=25))
    again = post(api, "destinations", {**BODY, "name": "New day"}, "shared-key")
    assert again.status_code == 201 and again.json()["id"] != mine["id"]

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    out = StringIO()
    call_command("purge_test_runs", stdout=out)
    assert "2 idempotency keys" in out.getvalue()
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
def test_a_refused_request_keeps_no_key_and_bad_keys_are_400(api):
    refused = post(api, "destinations", {**BODY, "config": {}}, "k-3")
    assert refused.status_code == 400
    assert post(api, "destinations", BODY, "k-3").status_code == 201
    for bad in ("", "x" * 256, "tab\there", "naïve"):
        response = post(api, "destinations", BODY, bad)
        assert response.status_code == 400, bad
        assert list(response.json()["errors"]) == ["Idempotency-Key"]


@pytest.mark.django_db
def test_connection_create_replays(api):
    body = {"name": "Hook auth", "destination_type": "webhook", "credentials": {"headers": {"A": SECRET}}}
    first = post(api, "connections", body, "c-1")
    again = post(api, "connections", body, "c-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Connection.objects.count() == 1


@pytest.mark.django_db
def test_only_a_keyed_hash_of_the_body_is_stored(api):
    post(api, "destinations", BODY, "k-4")
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM destinations_idempotencykey")
        raw = json.dumps([[str(col) for col in row] for row in cursor.fetchall()])
    assert SECRET not in raw and "hooks.example.com" not in raw and "Orders" not in raw


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_one_row(api):
    """Eight clients send one key at the same moment: one destination, eight answers naming it."""
    barrier = threading.Barrier(8)
    answers = []

    def send():
        client = ApiClient(api.workspace, api.token)
        barrier.wait()
        response = post(client, "destinations", BODY, "race-1")
        answers.append((response.status_code, response.json().get("id")))
        db_connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert Destination.objects.count() == 1
    assert answers == [(201, str(Destination.objects.get().pk))] * 8


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": SECRET}) as server:
        yield server


@pytest.mark.django_db(transaction=True)
def test_a_replayed_test_reattaches_to_the_same_run(api, receiver):
    destination = DestinationFactory(
        workspace=api.workspace, config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": SECRET}}
    )
    suffix = f"destinations/{destination.pk}/test"
    first = read_stream(post(api, suffix, {}, "t-1"))
    replay_response = post(api, suffix, {}, "t-1")
    assert replay_response.headers["Idempotent-Replayed"] == "true"
    replay = read_stream(replay_response)
    assert replay_response["X-Test-Run-ID"] == first[-1].data["test_run_id"]
    assert [(e.id, e.type, e.data) for e in replay] == [(e.id, e.type, e.data) for e in first]
    assert TestRun.objects.count() == 1 and len(receiver.received) == 1

    response = post(api, suffix, {"config": {"url": f"{receiver.url}/other"}}, "t-1")
    assert response.status_code == 422 and list(response.json()["errors"]) == ["Idempotency-Key"]

    # the new-connection test endpoint too
    body = {
        "destination_type": "webhook",
        "config": {"url": f"{receiver.url}/hooks/in", "headers": {"X-API-Key": SECRET}},
    }
    first = read_stream(post(api, "destinations/test", body, "t-2"))
    replay = read_stream(post(api, "destinations/test", body, "t-2"))
    assert replay[-1].data["test_run_id"] == first[-1].data["test_run_id"]
    assert TestRun.objects.count() == 2
