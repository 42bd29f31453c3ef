"""A workspace managed as code: members and roles, API tokens, monitoring settings, the signing secret, the
notification log and each destination's health-check interval, through the API alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from destinations.models import AuditEvent, Notification, WorkspaceMonitoring
from tests.conftest import ApiClient
from tests.factories import DestinationFactory
from workspaces.models import ApiToken, Membership, Workspace

pytestmark = pytest.mark.django_db


def add_member(api, email: str, role: str, **headers):
    return api.post(api.path("members"), {"email": email, "role": role}, format="json", **headers)


def test_an_admin_staffs_the_workspace_and_the_last_admin_stays(api):
    created = add_member(api, "dev@example.com", "editor")
    assert created.status_code == 201 and created.json()["role"] == "editor"
    user_id = created.json()["user_id"]
    assert add_member(api, "dev@example.com", "viewer").status_code == 409  # already a member

    promoted = api.patch(api.path(f"members/{user_id}"), {"role": "admin"}, format="json")
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    listed = {m["email"]: m["role"] for m in api.get(api.path("members")).json()}
    assert listed["dev@example.com"] == "admin" and len(listed) == 2

    # the caller steps down while another admin remains, and from then on may not change access
    me = str(api.user.pk)
    assert api.patch(api.path(f"members/{me}"), {"role": "viewer"}, format="json").status_code == 200
    assert api.patch(api.path(f"members/{me}"), {"role": "admin"}, format="json").status_code == 403
    assert Membership.objects.get(user_id=user_id).role == "admin"
    actions = list(AuditEvent.objects.filter(target_type="member").values_list("action", "target_name"))
    assert ("create", "dev@example.com") in actions and ("update", "dev@example.com") in actions


def test_the_last_admin_cannot_be_removed_or_demoted(api):
    me = str(api.user.pk)
    refused = api.delete(api.path(f"members/{me}"))
    assert refused.status_code == 409 and "last admin" in refused.json()["detail"]
    assert api.patch(api.path(f"members/{me}"), {"role": "editor"}, format="json").status_code == 409


def test_removing_a_member_revokes_their_tokens_here(api):
    user_id = add_member(api, "temp@example.com", "editor").json()["user_id"]
    token = api.post(api.path("api-tokens"), {"name": "ci", "user_id": user_id}, format="json").json()
    temp = ApiClient(api.workspace, token["token"])
    assert temp.get(temp.path("destinations")).status_code == 200
    assert api.delete(api.path(f"members/{user_id}")).status_code == 204
    assert temp.get(temp.path("destinations")).status_code == 401
    assert AuditEvent.objects.get(target_type="member", action="delete").details == {"tokens_revoked": 1}


def test_adding_a_member_is_idempotent_with_a_key(api):
    first = add_member(api, "ops@example.com", "viewer", HTTP_IDEMPOTENCY_KEY="add-ops")
    again = add_member(api, "ops@example.com", "viewer", HTTP_IDEMPOTENCY_KEY="add-ops")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert add_member(api, "x@example.com", "viewer", HTTP_IDEMPOTENCY_KEY="add-ops").status_code == 422


def test_a_token_is_shown_once_lists_without_its_secret_expires_and_is_revoked(api):
    soon = timezone.now() + timedelta(days=30)
    created = api.post(
        api.path("api-tokens"), {"name": "deploy", "expires_at": soon.isoformat()}, format="json",
        HTTP_IDEMPOTENCY_KEY="tok-1",
    )  # fmt: skip
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    body = created.json()
    plaintext = body["token"]
    assert plaintext.startswith("zdt_") and body["active"] is True and body["expires_at"]
    replay = api.post(
        api.path("api-tokens"), {"name": "deploy", "expires_at": soon.isoformat()}, format="json",
        HTTP_IDEMPOTENCY_KEY="tok-1",
    )  # fmt: skip
    assert replay.status_code == 201 and replay.json()["id"] == body["id"] and "token" not in replay.json()
    assert ApiToken.objects.filter(name="deploy").count() == 1

    listing = api.get(api.path("api-tokens"))
    assert plaintext not in listing.content.decode()
    assert {t["name"] for t in listing.json()} == {"default", "deploy"}

    deploy = ApiClient(api.workspace, plaintext)
    assert deploy.get(deploy.path("destinations")).status_code == 200
    ApiToken.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert deploy.get(deploy.path("destinations")).status_code == 401  # expired
    ApiToken.objects.filter(pk=body["id"]).update(expires_at=None)
    assert api.delete(api.path(f"api-tokens/{body['id']}")).status_code == 204
    assert deploy.get(deploy.path("destinations")).status_code == 401  # revoked
    assert api.get(api.path(f"api-tokens/{body['id']}")).json()["revoked_at"]
    assert list(AuditEvent.objects.filter(target_type="api_token").values_list("action", flat=True)) == [
        "delete",
        "create",
    ]


def test_a_token_cannot_expire_in_the_past(api):
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    refused = api.post(api.path("api-tokens"), {"name": "x", "expires_at": past}, format="json")
    assert refused.status_code == 400 and "expires_at" in refused.json()["errors"]


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_only_admins_change_access(role, api):
    from tests.conftest import make_api_client

    other = make_api_client(role=role)
    assert add_member(other, "x@example.com", "viewer").status_code == 403
    assert other.post(other.path("api-tokens"), {"name": "x"}, format="json").status_code == 403
    assert other.get(other.path("api-tokens")).status_code == 403
    assert other.post(other.path("monitoring/rotate-secret")).status_code == 403
    assert other.get(other.path("members")).status_code == 200  # reading who is a member is for every member
    # another workspace's ids are not found, whatever the role
    assert api.get(api.path(f"members/{other.user.pk}")).status_code == 404


def test_monitoring_settings_signing_secret_and_log(api, viewer_api):
    assert api.get(api.path("monitoring")).json() == {
        "check_interval_minutes": None,
        "notification_url": "",
        "signing_secret_set": False,
        "secret_rotated_at": None,
        "updated_at": None,
    }
    first = api.patch(
        api.path("monitoring"), {"notification_url": "https://hooks.example.com/n", "check_interval_minutes": 30},
        format="json",
    )  # fmt: skip
    assert first.status_code == 200
    secret = first.json()["signing_secret"]
    assert secret.startswith("whsec_") and first.json()["signing_secret_set"] is True
    assert "signing_secret" not in api.get(api.path("monitoring")).json()
    interval_only = api.patch(api.path("monitoring"), {"check_interval_minutes": 0}, format="json").json()
    assert interval_only["notification_url"] == "https://hooks.example.com/n" and "signing_secret" not in interval_only
    assert api.patch(api.path("monitoring"), {"notification_url": "ftp://x"}, format="json").status_code == 400
    assert (
        viewer_api.patch(viewer_api.path("monitoring"), {"check_interval_minutes": 5}, format="json").status_code == 403
    )

    rotated = api.post(api.path("monitoring/rotate-secret"))
    assert rotated.status_code == 200 and rotated["Cache-Control"] == "no-store"
    new_secret = rotated.json()["signing_secret"]
    assert new_secret != secret
    assert WorkspaceMonitoring.objects.get(workspace=api.workspace).signing_secret["secret"] == new_secret
    events = AuditEvent.objects.filter(target_type="monitoring").order_by("created_at", "id")
    assert [(e.changed_fields, e.secret_fields) for e in events] == [
        (["check_interval_minutes", "notification_url", "signing_secret"], ["signing_secret"]),
        (["check_interval_minutes"], []),
        (["signing_secret"], ["signing_secret"]),
    ]
    assert secret not in str(list(AuditEvent.objects.values())) and new_secret not in str(
        list(AuditEvent.objects.values())
    )

    for n in range(3):
        Notification.objects.create(
            workspace=api.workspace, event_type="destination.status_changed", payload={"n": n}, url="https://h/n",
            state="delivered" if n else "failed",
        )  # fmt: skip
    log = api.get(api.path("notifications") + "?limit=2")
    assert log.status_code == 200 and [row["payload"]["n"] for row in log.json()] == [2, 1]
    assert [row["payload"]["n"] for row in api.get(api.path("notifications") + "?state=failed").json()] == [0]
    assert api.get(api.path("notifications") + "?state=lost").status_code == 400


def test_a_destinations_health_check_interval(api, viewer_api):
    destination = DestinationFactory(workspace=api.workspace)
    url = api.path(f"destinations/{destination.pk}/health-check")
    assert api.get(url).json() == {"check_interval_minutes": None}
    assert api.put(url, {"check_interval_minutes": 15}, format="json").json() == {"check_interval_minutes": 15}
    destination.refresh_from_db()
    assert destination.check_interval_minutes == 15
    assert api.put(url, {"check_interval_minutes": -1}, format="json").status_code == 400
    assert viewer_api.get(viewer_api.path(f"destinations/{destination.pk}/health-check")).status_code == 404
    event = AuditEvent.objects.get(target_id=destination.pk, action="update")
    assert event.changed_fields == ["check_interval_minutes"]


def test_a_staff_token_creates_a_workspace_and_gets_a_token_for_it(api):
    from rest_framework.test import APIClient

    new = APIClient()
    new.credentials(HTTP_AUTHORIZATION=f"Bearer {api.token}")
    refused = new.post("/api/v1/workspaces", {"name": "Acme EU"}, format="json")
    assert refused.status_code == 403 and "staff" in refused.json()["detail"]

    api.user.is_staff = True
    api.user.save()
    created = new.post("/api/v1/workspaces", {"name": "Acme EU"}, format="json", HTTP_IDEMPOTENCY_KEY="ws-eu")
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    body = created.json()
    replay = new.post("/api/v1/workspaces", {"name": "Acme EU"}, format="json", HTTP_IDEMPOTENCY_KEY="ws-eu")
    assert replay.json()["id"] == body["id"] and "token" not in replay.json()

    workspace = Workspace.objects.get(pk=body["id"])
    assert workspace.name == "Acme EU" and workspace.memberships.get().user == api.user
    eu = ApiClient(workspace, body["token"])
    assert eu.get(eu.path("members")).json()[0]["role"] == "admin"
    elsewhere = ApiClient(api.workspace, body["token"])
    assert elsewhere.get(elsewhere.path("destinations")).status_code == 404  # a token for one workspace
    assert AuditEvent.objects.get(workspace=workspace).details == {"role": "admin", "workspace_created": True}
