"""Authentication, the workspace header, roles, and tenant isolation across every endpoint."""

import uuid

import pytest
from django.urls import get_resolver

from tests.factories import ConnectionFactory, DestinationFactory
from workspaces.models import ApiToken, Membership, Role


def test_missing_token_is_401_with_www_authenticate(api):
    api.client.credentials(HTTP_X_WORKSPACE_ID=str(api.workspace.pk))
    response = api.get(api.path("destinations"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["zdt_nope", "garbage", ""])
def test_bad_token_is_401(api, token):
    api.client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_WORKSPACE_ID=str(api.workspace.pk))
    assert api.get(api.path("destinations")).status_code == 401


def test_revoked_token_is_401_and_use_is_recorded(api):
    token = ApiToken.objects.get(user=api.user)
    assert api.get(api.path("destinations")).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    token.revoke()
    assert api.get(api.path("destinations")).status_code == 401


def test_tokens_are_stored_hashed(api):
    token = ApiToken.objects.get(user=api.user)
    assert api.token not in (token.digest, token.display_prefix)
    assert api.token.startswith("zdt_")


def test_a_token_whose_user_left_the_workspace_is_404(api):
    assert api.get(api.path("destinations")).status_code == 200
    Membership.objects.filter(user=api.user, workspace=api.workspace).delete()
    assert api.get(api.path("destinations")).status_code == 404


def test_a_role_change_applies_to_the_next_request(api):
    assert api.post(api.path("destinations"), {}, format="json").status_code == 400  # allowed, then invalid
    Membership.objects.filter(user=api.user, workspace=api.workspace).update(role=Role.VIEWER)
    assert api.post(api.path("destinations"), {}, format="json").status_code == 403
    assert api.get(api.path("destinations")).status_code == 200


def test_caller_and_role_are_known_after_one_query(api, django_assert_num_queries):
    """The token, its user, its workspace and the user's role there come in a single query."""
    from rest_framework.test import APIRequestFactory

    from workspaces.access import workspace_membership
    from workspaces.authentication import BearerTokenAuthentication

    assert api.get(api.path("destinations")).status_code == 200  # records last use: no write follows
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {api.token}")
    with django_assert_num_queries(1):
        user, token = BearerTokenAuthentication().authenticate(request)
        membership = workspace_membership(
            user=user, auth=token, workspace_id=api.workspace.pk, header_value=str(api.workspace.pk)
        )
    assert (membership.workspace, membership.user, membership.role) == (api.workspace, api.user, Role.ADMIN)


@pytest.mark.parametrize("header", [None, "not-a-uuid", str(uuid.uuid4())])
def test_workspace_header_missing_or_different_is_400(api, header):
    credentials = {"HTTP_AUTHORIZATION": f"Bearer {api.token}"}
    if header:
        credentials["HTTP_X_WORKSPACE_ID"] = header
    api.client.credentials(**credentials)
    response = api.get(api.path("destinations"))
    assert response.status_code == 400
    assert "X-Workspace-ID" in response.json()["errors"]


def test_viewer_reads_but_cannot_write_or_test(viewer_api):
    destination = DestinationFactory(workspace=viewer_api.workspace)
    assert viewer_api.get(viewer_api.path("destinations")).status_code == 200
    assert viewer_api.post(viewer_api.path("destinations"), {}, format="json").status_code == 403
    assert viewer_api.put(viewer_api.path(f"destinations/{destination.pk}"), {}, format="json").status_code == 403
    assert viewer_api.delete(viewer_api.path(f"destinations/{destination.pk}")).status_code == 403
    assert viewer_api.post(viewer_api.path(f"destinations/{destination.pk}/test")).status_code == 403
    assert viewer_api.post(viewer_api.path("destinations/test"), {}, format="json").status_code == 403


def workspace_routes():
    """Every workspace-scoped URL pattern, so a new endpoint cannot skip the isolation sweep."""

    def walk(patterns, prefix=""):
        for p in patterns:
            if hasattr(p, "url_patterns"):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            else:
                yield prefix + str(p.pattern)

    return sorted(route for route in walk(get_resolver().url_patterns) if "<uuid:workspace_id>" in route)


def test_sweep_covers_every_workspace_route():
    assert set(workspace_routes()) == {pattern for pattern, *_ in ISOLATION_CASES}


W = "api/v1/workspaces/<uuid:workspace_id>"
ISOLATION_CASES = [
    (f"{W}/destinations", ["get", "post"]),
    (f"{W}/destinations/test", ["post"]),
    (f"{W}/destinations/test-runs/<uuid:run_id>", ["get"]),
    (f"{W}/destinations/test-runs/<uuid:run_id>/events", ["get"]),
    (f"{W}/destinations/test-runs/<uuid:run_id>/stream-token", ["post"]),
    (f"{W}/destinations/test-jobs", ["post"]),
    (f"{W}/destinations/test-jobs/<uuid:job_id>", ["get"]),
    (f"{W}/destinations/test-jobs/<uuid:job_id>/events", ["get"]),
    (f"{W}/destinations/<uuid:destination_id>", ["get", "put", "patch", "delete"]),
    (f"{W}/destinations/<uuid:destination_id>/test", ["post"]),
    (f"{W}/destinations/<uuid:destination_id>/fields", ["get"]),
    (f"{W}/destinations/<uuid:destination_id>/test-runs", ["get"]),
    (f"{W}/destinations/<uuid:destination_id>/history", ["get"]),
    (f"{W}/connections", ["get", "post"]),
    (f"{W}/connections/<uuid:connection_id>", ["get", "put", "delete"]),
    (f"{W}/connections/oauth/<str:destination_type>/authorize", ["post"]),
    (f"{W}/connections/<uuid:connection_id>/oauth/refresh", ["post"]),
    (f"{W}/oauth-apps/<str:destination_type>", ["get", "put"]),
]


@pytest.mark.parametrize(("pattern", "methods"), ISOLATION_CASES)
def test_other_workspaces_ids_are_404_everywhere(api, other_api, pattern, methods):
    """api's token against other_api's workspace and objects: every method answers 404, nothing changes."""
    from destinations.models import TestJob, TestRun

    theirs = other_api.workspace
    destination = DestinationFactory(workspace=theirs)
    connection = ConnectionFactory(workspace=theirs)
    run = TestRun.objects.create(workspace=theirs, destination=destination, destination_type="webhook")
    job = TestJob.objects.create(workspace=theirs, trigger="api")
    path = "/" + (
        pattern.replace("<uuid:workspace_id>", str(theirs.pk))
        .replace("<uuid:destination_id>", str(destination.pk))
        .replace("<uuid:connection_id>", str(connection.pk))
        .replace("<uuid:run_id>", str(run.pk))
        .replace("<uuid:job_id>", str(job.pk))
        .replace("<str:destination_type>", "salesforce")
    )
    api.client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.token}", HTTP_X_WORKSPACE_ID=str(theirs.pk))
    for method in methods:
        response = getattr(api.client, method)(path, {}, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    destination.refresh_from_db()
    assert destination.name.startswith("Webhook")


def test_own_workspace_path_with_other_workspaces_object_ids_is_404(api, other_api):
    destination = DestinationFactory(workspace=other_api.workspace)
    for suffix in ("", "/fields", "/test-runs", "/history"):
        assert api.get(api.path(f"destinations/{destination.pk}{suffix}")).status_code == 404
    assert api.post(api.path(f"destinations/{destination.pk}/test")).status_code == 404


def test_connection_from_other_workspace_cannot_be_referenced(api, other_api):
    connection = ConnectionFactory(workspace=other_api.workspace)
    body = {
        "name": "x",
        "destination_type": "webhook",
        "config": {"url": "https://x.example.com"},
        "connection_id": str(connection.pk),
    }
    response = api.post(api.path("destinations"), body, format="json")
    assert response.status_code == 400 and "connection_id" in response.json()["errors"]
