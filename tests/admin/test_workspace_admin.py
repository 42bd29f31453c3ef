"""Workspaces, members and API tokens in the admin: a token's plaintext is shown once, then never."""

import pytest

from tests.admin_forms import messages_of
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from workspaces.models import ApiToken, Membership, hash_token
from workspaces.services import api_token_create

pytestmark = pytest.mark.django_db


def test_workspace_list_and_change_show_members_and_tokens(staff):
    membership = MembershipFactory(role="editor")
    token, plaintext = api_token_create(workspace=membership.workspace, user=membership.user, name="ci")
    listing = staff.get("/admin/workspaces/workspace/").content.decode()
    assert membership.workspace.name in listing
    page = staff.get(f"/admin/workspaces/workspace/{membership.workspace.pk}/change/").content.decode()
    assert membership.user.username in page and "editor" in page
    assert token.display_prefix in page and "active" in page
    assert plaintext not in page and token.digest not in page
    assert f"/admin/workspaces/apitoken/add/?workspace={membership.workspace.pk}" in page


def test_workspace_search_by_id(staff):
    workspace, _other = WorkspaceFactory(name="Acme"), WorkspaceFactory(name="Globex")
    result = staff.get("/admin/workspaces/workspace/", {"q": str(workspace.pk)}).context["cl"].result_list
    assert [w.name for w in result] == ["Acme"]


def test_members_are_added_inline(staff):
    workspace, user = WorkspaceFactory(), UserFactory()
    data = {
        "name": workspace.name,
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-user": str(user.pk),
        "memberships-0-role": "viewer",
        "api_tokens-TOTAL_FORMS": "0",
        "api_tokens-INITIAL_FORMS": "0",
        "api_tokens-MIN_NUM_FORMS": "0",
        "api_tokens-MAX_NUM_FORMS": "0",
    }
    response = staff.post(f"/admin/workspaces/workspace/{workspace.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.objects.get(workspace=workspace).role == "viewer"


def test_creating_a_token_shows_the_plaintext_once(staff):
    membership = MembershipFactory()
    add_page = staff.get(f"/admin/workspaces/apitoken/add/?workspace={membership.workspace.pk}")
    assert add_page.status_code == 200
    response = staff.post(
        "/admin/workspaces/apitoken/add/",
        {"workspace": str(membership.workspace.pk), "user": str(membership.user.pk), "name": "deploy"},
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="deploy")
    plaintext = response.context["plaintext"]
    assert plaintext.startswith("zdt_") and hash_token(plaintext) == token.digest
    assert plaintext in response.content.decode()
    assert "shown only this once" in response.content.decode()

    for url in (
        "/admin/workspaces/apitoken/",
        f"/admin/workspaces/apitoken/{token.pk}/change/",
        f"/admin/workspaces/workspace/{membership.workspace.pk}/change/",
        "/admin/admin/logentry/",
    ):
        body = staff.get(url).content.decode()
        assert plaintext not in body, url
    assert not any(plaintext in m for m in messages_of(staff.get("/admin/")))


def test_the_created_token_authenticates(staff, client):
    membership = MembershipFactory()
    response = staff.post(
        "/admin/workspaces/apitoken/add/",
        {"workspace": str(membership.workspace.pk), "user": str(membership.user.pk), "name": "deploy"},
    )
    plaintext = response.context["plaintext"]
    api = client.get(
        f"/api/v1/workspaces/{membership.workspace.pk}/destinations",
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
        HTTP_X_WORKSPACE_ID=str(membership.workspace.pk),
    )
    assert api.status_code == 200


def test_a_token_needs_a_member(staff):
    workspace, stranger = WorkspaceFactory(), UserFactory()
    response = staff.post(
        "/admin/workspaces/apitoken/add/", {"workspace": str(workspace.pk), "user": str(stranger.pk), "name": "x"}
    )
    assert response.status_code == 200
    assert "not a member of the workspace" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_revoke_action(staff, client):
    membership = MembershipFactory()
    token, plaintext = api_token_create(workspace=membership.workspace, user=membership.user)
    kept, _ = api_token_create(workspace=membership.workspace, user=membership.user, name="kept")
    response = staff.post(
        "/admin/workspaces/apitoken/", {"action": "revoke", "_selected_action": [str(token.pk)]}, follow=True
    )
    assert "Revoked 1 API token." in messages_of(response)
    token.refresh_from_db()
    kept.refresh_from_db()
    assert token.revoked_at is not None and kept.revoked_at is None
    api = client.get(
        f"/api/v1/workspaces/{membership.workspace.pk}/destinations",
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
        HTTP_X_WORKSPACE_ID=str(membership.workspace.pk),
    )
    assert api.status_code == 401
    assert "revoked" in staff.get(f"/admin/workspaces/apitoken/{token.pk}/change/").content.decode()


def test_token_change_renames_only(staff):
    membership = MembershipFactory()
    token, _ = api_token_create(workspace=membership.workspace, user=membership.user, name="old")
    other = MembershipFactory()
    response = staff.post(
        f"/admin/workspaces/apitoken/{token.pk}/change/", {"name": "new", "workspace": str(other.workspace.pk)}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.name == "new" and token.workspace == membership.workspace


def test_users_are_managed_with_their_memberships(staff):
    response = staff.post(
        "/admin/workspaces/user/add/",
        {
            "username": "new-ops",
            "password1": "a-long-pass-9431",
            "password2": "a-long-pass-9431",
            "usable_password": "true",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    membership = MembershipFactory()
    page = staff.get(f"/admin/workspaces/user/{membership.user.pk}/change/").content.decode()
    assert membership.workspace.name in page


def test_an_expired_token_is_shown_expired_and_not_counted_active(staff):
    from datetime import timedelta

    from django.utils import timezone

    membership = MembershipFactory()
    token, _plaintext = api_token_create(
        workspace=membership.workspace, user=membership.user, name="old", expires_at=timezone.now() + timedelta(days=1)
    )
    type(token).objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    page = staff.get(f"/admin/workspaces/workspace/{membership.workspace.pk}/change/").content.decode()
    assert "expired " in page
    listing = staff.get("/admin/workspaces/workspace/").context["cl"].result_list
    assert [w.active_tokens_total for w in listing if w.pk == membership.workspace.pk] == [0]


def test_a_token_made_in_the_admin_may_expire(staff):
    from datetime import timedelta

    from django.utils import timezone

    membership = MembershipFactory()
    base = {"workspace": str(membership.workspace.pk), "user": str(membership.user.pk), "name": "temp"}
    past, future = timezone.now() - timedelta(days=1), timezone.now() + timedelta(days=7)
    refused = staff.post(
        "/admin/workspaces/apitoken/add/",
        {**base, "expires_at_0": f"{past:%Y-%m-%d}", "expires_at_1": f"{past:%H:%M:%S}"},
    )
    assert "This time is past" in refused.content.decode() and not ApiToken.objects.filter(name="temp").exists()
    staff.post(
        "/admin/workspaces/apitoken/add/",
        {**base, "expires_at_0": f"{future:%Y-%m-%d}", "expires_at_1": f"{future:%H:%M:%S}"},
    )
    token = ApiToken.objects.get(name="temp")
    assert token.expires_at.date() == future.date() and token.is_active
    assert "active until" in staff.get(f"/admin/workspaces/apitoken/{token.pk}/change/").content.decode()
