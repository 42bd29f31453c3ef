import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from destinations.models import Destination
from tests.factories import ConnectionFactory, DestinationFactory
from workspaces.models import ApiToken, Membership, Role


@pytest.mark.django_db
def test_create_workspace_prints_ids_and_a_working_token(client):
    out = StringIO()
    call_command("create_workspace", "--name", "Acme", "--email", "ops@acme.example", stdout=out)
    created = json.loads(out.getvalue())
    assert set(created) == {"workspace_id", "user_id", "token"}
    membership = Membership.objects.get(workspace_id=created["workspace_id"])
    assert membership.role == Role.ADMIN and str(membership.user_id) == created["user_id"]
    assert not ApiToken.objects.filter(digest=created["token"]).exists()
    response = client.get(
        f"/api/v1/workspaces/{created['workspace_id']}/destinations",
        HTTP_AUTHORIZATION=f"Bearer {created['token']}",
        HTTP_X_WORKSPACE_ID=created["workspace_id"],
    )
    assert response.status_code == 200 and json.loads(b"".join(response.streaming_content)) == []  # streamed

    again = StringIO()
    call_command("create_workspace", "--name", "Second", "--email", "OPS@acme.example", stdout=again)
    assert json.loads(again.getvalue())["user_id"] == created["user_id"]


@pytest.mark.django_db
def test_create_workspace_rejects_bad_email():
    with pytest.raises(CommandError, match="not a valid e-mail"):
        call_command("create_workspace", "--name", "Acme", "--email", "nope")


@pytest.mark.django_db
def test_rotate_secrets_reencrypts_under_the_first_key(settings):
    old_key = settings.SECRETS_ENCRYPTION_KEYS[0]
    destination = DestinationFactory()
    ConnectionFactory()

    def raw():
        with connection.cursor() as cursor:
            cursor.execute("SELECT secrets FROM destinations_destination")
            return cursor.fetchone()[0]

    before = raw()
    new_key = Fernet.generate_key().decode()
    settings.SECRETS_ENCRYPTION_KEYS = [new_key, old_key]
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "1 destinations" in out.getvalue() and "1 connections" in out.getvalue()
    after = raw()
    assert after != before
    Fernet(new_key.encode()).decrypt(after.encode())  # readable with the new key alone
    settings.SECRETS_ENCRYPTION_KEYS = [new_key]
    assert Destination.objects.get(pk=destination.pk).secrets == {"headers": {"X-API-Key": "factory-secret"}}


@pytest.mark.django_db
def test_purge_test_runs_deletes_old_runs_with_their_events():
    from datetime import timedelta

    from django.utils import timezone

    from destinations.models import TestRun, TestRunEvent

    destination = DestinationFactory()
    old = TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    TestRun.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=40))
    TestRunEvent.objects.create(run=old, seq=1, type="done", data="{}")
    recent = TestRun.objects.create(
        workspace=destination.workspace, destination=destination, destination_type="webhook"
    )
    out = StringIO()
    call_command("purge_test_runs", "--older-than-days", "30", stdout=out)
    assert "Deleted 1 test runs and 1 stored events" in out.getvalue()
    assert list(TestRun.objects.all()) == [recent]
    with pytest.raises(CommandError):
        call_command("purge_test_runs", "--older-than-days", "0")
