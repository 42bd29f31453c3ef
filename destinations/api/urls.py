from django.urls import path

from . import jobs, oauth_views, views

workspace = "api/v1/workspaces/<uuid:workspace_id>"

urlpatterns = [
    path("api/v1/destination-types", views.DestinationTypesView.as_view(), name="destination-types"),
    path(f"{workspace}/destinations", views.DestinationListView.as_view(), name="destination-list"),
    path(f"{workspace}/destinations/test", views.DestinationTestNewView.as_view(), name="destination-test-new"),
    path(f"{workspace}/destinations/test-jobs", jobs.TestJobListView.as_view(), name="test-job-list"),
    path(f"{workspace}/destinations/test-jobs/<uuid:job_id>", jobs.TestJobDetailView.as_view(), name="test-job-detail"),
    path(
        f"{workspace}/destinations/test-jobs/<uuid:job_id>/events",
        jobs.TestJobEventsView.as_view(),
        name="test-job-events",
    ),
    path(
        f"{workspace}/destinations/test-runs/<uuid:run_id>", views.TestRunDetailView.as_view(), name="test-run-detail"
    ),
    path(
        f"{workspace}/destinations/test-runs/<uuid:run_id>/events",
        views.TestRunEventsView.as_view(),
        name="test-run-events",
    ),
    path(
        f"{workspace}/destinations/test-runs/<uuid:run_id>/stream-token",
        views.TestRunStreamTokenView.as_view(),
        name="test-run-stream-token",
    ),
    path(
        f"{workspace}/destinations/<uuid:destination_id>",
        views.DestinationDetailView.as_view(),
        name="destination-detail",
    ),
    path(
        f"{workspace}/destinations/<uuid:destination_id>/test",
        views.DestinationTestView.as_view(),
        name="destination-test",
    ),
    path(
        f"{workspace}/destinations/<uuid:destination_id>/fields",
        views.DestinationFieldsView.as_view(),
        name="destination-fields",
    ),
    path(
        f"{workspace}/destinations/<uuid:destination_id>/test-runs",
        views.DestinationTestRunsView.as_view(),
        name="destination-test-runs",
    ),
    path(
        f"{workspace}/destinations/<uuid:destination_id>/history",
        views.DestinationHistoryView.as_view(),
        name="destination-history",
    ),
    path(f"{workspace}/connections", views.ConnectionListView.as_view(), name="connection-list"),
    path(
        f"{workspace}/connections/oauth/<str:destination_type>/authorize",
        oauth_views.OAuthAuthorizeView.as_view(),
        name="connection-oauth-authorize",
    ),
    path(
        f"{workspace}/connections/<uuid:connection_id>/oauth/refresh",
        oauth_views.OAuthRefreshView.as_view(),
        name="connection-oauth-refresh",
    ),
    path(f"{workspace}/oauth-apps/<str:destination_type>", oauth_views.OAuthAppView.as_view(), name="oauth-app"),
    path("oauth/callback", oauth_views.oauth_callback, name="oauth-callback"),
    path(
        f"{workspace}/connections/<uuid:connection_id>", views.ConnectionDetailView.as_view(), name="connection-detail"
    ),
]
