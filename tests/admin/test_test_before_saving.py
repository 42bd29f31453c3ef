"""Test before saving: the add and change forms' current values tested live, nothing saved.

The runs execute on worker threads with their own database connections, hence transactional tests.
"""

import json

import pytest

from destinations.models import Destination, DestinationStatus, TestRun
from tests.admin.conftest import API_KEY
from tests.admin_forms import destination_form
from tests.factories import DestinationFactory, WorkspaceFactory
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

DRAFT_NEW = "/admin/destinations/destination/test-draft/"


def draft_url(destination) -> str:
    return f"/admin/destinations/destination/{destination.pk}/test-draft/"


def follow(staff, response) -> list:
    assert response.status_code == 202, response.content.decode()[:2000]
    return read_stream(staff.get(response.json()["events_url"]))


def test_a_new_destination_is_tested_from_the_add_form_and_not_saved(staff, staff_user, receiver):
    workspace = WorkspaceFactory()
    config = {"url": f"{receiver.url}/hooks/in", "method": "POST", "headers": {"X-API-Key": API_KEY}}
    form = {"workspace": str(workspace.pk), "name": "", "connection": "", "config": json.dumps(config)}
    response = staff.post(DRAFT_NEW + "?destination_type=webhook", form)
    events = follow(staff, response)
    assert [(e.type, e.data.get("name")) for e in events] == [
        ("step", "connectivity"),
        ("step", "delivery"),
        ("done", None),
    ]
    assert events[-1].data["success"] is True and "destination" not in events[-1].data
    assert API_KEY not in str([e.data for e in events])
    run = TestRun.objects.get()
    assert run.destination is None and run.trigger == "admin" and run.actor == staff_user
    assert run.workspace == workspace and run.destination_type == "webhook"
    assert not Destination.objects.exists()
    assert len(receiver.received) == 1 and receiver.received[0]["headers"]["X-Api-Key"] == API_KEY


def test_a_change_form_with_blank_secrets_is_tested_with_the_stored_ones(staff, receiver):
    destination = DestinationFactory(
        config={"url": f"{receiver.url}/hooks/in"},
        secrets={"headers": {"X-API-Key": API_KEY}},
        status=DestinationStatus.ERROR,
        status_error="was broken",
    )
    config = {"url": f"{receiver.url}/hooks/in", "method": "PUT", "headers": {"X-API-Key": ""}}
    events = follow(staff, staff.post(draft_url(destination), destination_form(destination, config=config)))
    assert events[-1].data["success"] is True
    assert receiver.calls[-1].method == "PUT"  # the form's current value, not the stored one
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.ERROR and destination.status_error == "was broken"
    assert "method" not in destination.config  # nothing saved
    assert destination.test_runs.count() == 0


def test_a_change_form_with_a_typed_secret_is_tested_with_it(staff, receiver):
    destination = DestinationFactory(
        config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": "old"}}
    )
    config = {"url": f"{receiver.url}/hooks/in", "headers": {"X-API-Key": API_KEY}}
    events = follow(staff, staff.post(draft_url(destination), destination_form(destination, config=config)))
    assert events[-1].data["success"] is True
    destination.refresh_from_db()
    assert destination.secrets == {"headers": {"X-API-Key": "old"}}


def test_a_changed_url_needs_the_secrets_typed_again(staff, receiver):
    destination = DestinationFactory(
        config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": API_KEY}}
    )
    config = {"url": "http://127.0.0.2:9/hooks/in", "headers": {"X-API-Key": ""}}
    response = staff.post(draft_url(destination), destination_form(destination, config=config))
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["path"] == "config.headers.X-API-Key" and error["field"] == "Headers.X-API-Key"
    assert error["message"].startswith("Re-enter this secret")
    assert not TestRun.objects.exists() and receiver.calls == []


def test_invalid_values_are_listed_with_their_labels(staff):
    workspace = WorkspaceFactory()
    form = {"workspace": str(workspace.pk), "connection": "", "config": json.dumps({"url": "nope", "method": "GET"})}
    response = staff.post(DRAFT_NEW + "?destination_type=webhook", form)
    assert response.status_code == 400
    fields = {(e["field"], e["path"]) for e in response.json()["errors"]}
    assert fields == {("URL", "config.url"), ("Method", "config.method")}
    assert not TestRun.objects.exists()


def test_the_add_form_needs_a_workspace_and_a_type(staff):
    response = staff.post(DRAFT_NEW + "?destination_type=webhook", {"config": "{}"})
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "workspace"
    response = staff.post(DRAFT_NEW, {"config": "{}"})
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "destination_type"


def test_a_draft_run_is_followed_only_by_who_started_it(staff, receiver, django_user_model):
    from django.test import Client

    workspace = WorkspaceFactory()
    config = {"url": f"{receiver.url}/hooks/in", "headers": {"X-API-Key": API_KEY}}
    response = staff.post(
        DRAFT_NEW + "?destination_type=webhook", {"workspace": str(workspace.pk), "config": json.dumps(config)}
    )
    events_url = response.json()["events_url"]
    other = Client()
    other.force_login(django_user_model.objects.create_superuser(username="other", password="pw-other-1"))
    assert other.get(events_url).status_code == 404
    read_stream(staff.get(events_url))  # let the run finish before the test database goes


def test_the_pages_have_the_button(staff):
    destination = DestinationFactory()
    for url in (
        f"/admin/destinations/destination/{destination.pk}/change/",
        "/admin/destinations/destination/add/?destination_type=webhook",
    ):
        page = staff.get(url).content.decode()
        assert 'id="test-draft"' in page and "destinations/test_draft.js" in page


def test_viewing_is_not_enough_to_test_a_draft(client, django_user_model):
    from django.contrib.auth.models import Permission

    destination = DestinationFactory()
    viewer = django_user_model.objects.create_user(username="viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_destination"))
    client.force_login(viewer)
    assert client.post(draft_url(destination), destination_form(destination)).status_code == 403
    assert client.post(DRAFT_NEW + "?destination_type=webhook", {"config": "{}"}).status_code == 403
    assert not TestRun.objects.exists()
