"""Audit history: who changed or tested a destination or connection, when, through what, which fields.

Secret fields are named; their values, old or new, are nowhere in the history, the API or the raw rows.
"""

import json

import pytest
from django.core.management import call_command
from django.db import connection as db_connection
from django.test import Client

from destinations.models import AuditEvent
from destinations.services.audit import audit_record
from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory
from tests.sse import read_stream

OLD_KEY, NEW_KEY = "old-api-key-1f3b", "new-api-key-9c2d"
SIGNING = "whsec_c2lnbmluZy1zZWNyZXQtNzdhYS0wMTIzNDU2Nzg5YWJj"
CREDENTIAL = "conn-bearer-5e6f"


def _raw_audit_rows() -> str:
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM destinations_auditevent")
        return json.dumps([[str(col) for col in row] for row in cursor.fetchall()])


def _assert_no_secret(*texts):
    for text in texts:
        for secret in (OLD_KEY, NEW_KEY, SIGNING, CREDENTIAL):
            assert secret not in text


def _history(api, destination_id):
    response = api.get(api.path(f"destinations/{destination_id}/history"))
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.django_db
def test_api_create_update_delete_are_recorded_with_secret_names_only(api):
    created = api.post(
        api.path("destinations"),
        {
            "name": "Orders",
            "destination_type": "webhook",
            "config": {"url": "https://hooks.example.com/a", "headers": {"X-API-Key": OLD_KEY}},
        },
        format="json",
    ).json()
    path = f"destinations/{created['id']}"
    renamed = api.put(
        api.path(path),
        {"name": "Orders v2", "config": {"headers": {"X-API-Key": NEW_KEY}, "signing_secret": SIGNING}},
        format="json",
    )
    assert renamed.status_code == 200, renamed.content
    moved = {"url": "https://hooks.example.com/b", "headers": {"X-API-Key": NEW_KEY}, "signing_secret": SIGNING}
    assert api.put(api.path(path), {"config": moved}, format="json").status_code == 200  # a new host: secrets re-sent
    api.put(api.path(path), {"name": "Orders v2"}, format="json")  # no change: nothing recorded

    history = _history(api, created["id"])
    assert [e["action"] for e in history] == ["update", "update", "create"]  # newest first
    assert all(e["via"] == "api" and e["actor"] == str(api.user.pk) for e in history)
    assert history[0]["actor_label"] == api.user.username
    assert history[0]["changed_fields"] == ["config.url"] and history[0]["secret_fields"] == []
    assert history[1]["changed_fields"] == ["config.headers.X-API-Key", "config.signing_secret", "name"]
    assert history[1]["secret_fields"] == ["config.headers.X-API-Key", "config.signing_secret"]
    assert "config.headers.X-API-Key" in history[2]["changed_fields"]
    assert history[2]["secret_fields"] == ["config.headers.X-API-Key"]

    assert api.delete(api.path(path)).status_code == 200
    deleted = AuditEvent.objects.filter(target_id=created["id"]).first()
    assert deleted.action == "delete" and deleted.target_name == "Orders v2"
    _assert_no_secret(json.dumps(history), _raw_audit_rows())


@pytest.mark.django_db
def test_connection_changes_are_recorded(api):
    created = api.post(
        api.path("connections"),
        {"name": "Hook auth", "destination_type": "webhook", "credentials": {"headers": {"Authorization": CREDENTIAL}}},
        format="json",
    ).json()
    api.put(api.path(f"connections/{created['id']}"), {"name": "Shared hook auth"}, format="json")
    api.delete(api.path(f"connections/{created['id']}"))
    events = list(AuditEvent.objects.filter(target_id=created["id"]).order_by("created_at", "id"))
    assert [(e.action, e.target_type, e.via) for e in events] == [
        ("create", "connection", "api"),
        ("update", "connection", "api"),
        ("delete", "connection", "api"),
    ]
    assert events[0].secret_fields == ["credentials.headers.Authorization"]
    assert events[1].changed_fields == ["name"]
    _assert_no_secret(_raw_audit_rows())


@pytest.mark.django_db
def test_history_is_scoped_and_the_viewer_can_read_it(api, viewer_api, other_api):
    destination = DestinationFactory(workspace=api.workspace)
    audit_record(
        workspace=api.workspace, actor=api.user, via="api", action="update", target=destination, changed_fields=["name"]
    )
    assert other_api.get(other_api.path(f"destinations/{destination.pk}/history")).status_code == 404
    mine = DestinationFactory(workspace=viewer_api.workspace)
    assert viewer_api.get(viewer_api.path(f"destinations/{mine.pk}/history")).json() == []
    assert api.get(api.path(f"destinations/{destination.pk}/history"), {"x": 1}).status_code == 400


@pytest.mark.django_db
def test_admin_changes_are_recorded_as_admin(django_user_model):
    staff_user = django_user_model.objects.create_superuser(username="ops", email="ops@example.com", password="pw-1")
    staff = Client()
    staff.force_login(staff_user)
    destination = DestinationFactory(
        name="Hook", config={"url": "https://hooks.example.com/in"}, secrets={"headers": {"X-API-Key": OLD_KEY}}
    )
    from tests.admin_forms import change_url, destination_form

    config = {"url": "https://hooks.example.com/in", "headers": {"X-API-Key": NEW_KEY}}
    response = staff.post(change_url(destination), destination_form(destination, config=config))
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(target_id=destination.pk)
    assert (event.via, event.action, event.actor, event.actor_label) == ("admin", "update", staff_user, "ops")
    assert event.changed_fields == event.secret_fields == ["config.headers.X-API-Key"]

    page = staff.get("/admin/destinations/auditevent/").content.decode()
    assert "config.headers.X-API-Key" in page
    detail = staff.get(f"/admin/destinations/auditevent/{event.pk}/change/")
    assert detail.status_code == 200 and "config.headers.X-API-Key" in detail.content.decode()
    assert staff.get("/admin/destinations/auditevent/add/").status_code == 403
    _assert_no_secret(page, detail.content.decode(), _raw_audit_rows())


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": OLD_KEY}) as server:
        yield server


@pytest.mark.django_db(transaction=True)
def test_tests_are_recorded_through_the_api_and_the_command(api, receiver):
    destination = DestinationFactory(
        workspace=api.workspace, config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": OLD_KEY}}
    )
    events = read_stream(
        api.post(api.path(f"destinations/{destination.pk}/test"), {"config": {"method": "PUT"}}, format="json")
    )
    run_id = events[-1].data["test_run_id"]
    call_command("test_destinations", "--id", str(destination.pk), stdout=open("/dev/null", "w"))  # noqa: SIM115

    history = _history(api, destination.pk)
    assert [(e["action"], e["via"]) for e in history] == [("test", "cli"), ("test", "api")]
    assert history[1]["details"] == {"test_run_id": run_id, "overridden": ["method"]}
    assert history[0]["actor"] is None and history[0]["actor_label"] == ""
    _assert_no_secret(json.dumps(history), _raw_audit_rows())


@pytest.mark.django_db
def test_audit_record_refuses_unknown_values(api):
    destination = DestinationFactory(workspace=api.workspace)
    with pytest.raises(ValueError):
        audit_record(workspace=api.workspace, actor=None, via="telepathy", action="update", target=destination)
    audit_record(workspace=api.workspace, actor=None, via="schedule", action="reauthorize", target=destination)
    assert AuditEvent.objects.get().get_action_display() == "Re-authorised"
