"""The failures dashboard and the admin index's summary."""

import pytest

from destinations.models import DestinationStatus, TestRun
from tests.factories import DestinationFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/destinations/destination/dashboard/"


def failed(destination, step: str, code: str = "auth_invalid"):
    destination.status, destination.status_error = DestinationStatus.ERROR, f"{step} failed"
    destination.save()
    TestRun.objects.create(
        workspace=destination.workspace,
        destination=destination,
        destination_type=destination.destination_type,
        success=False,
        finished_at=destination.created_at,
        steps=[
            {"name": "connectivity", "status": "passed", "message": "ok", "duration_ms": 1},
            {"name": step, "status": "failed", "message": "no", "duration_ms": 1, "error": {"code": code}},
        ],
    )
    return destination


def test_counts_by_status_and_failures_grouped_by_workspace_type_and_step(staff):
    acme, other = WorkspaceFactory(name="Acme"), WorkspaceFactory(name="Other")
    one = failed(DestinationFactory(workspace=acme, name="One"), "delivery")
    two = failed(DestinationFactory(workspace=acme, name="Two"), "delivery")
    three = failed(DestinationFactory(workspace=acme, name="Three"), "connectivity", "unreachable")
    four = failed(DestinationFactory(workspace=other, name="Four"), "delivery")
    DestinationFactory(workspace=acme, status=DestinationStatus.CONNECTED)
    DestinationFactory(workspace=acme)

    response = staff.get(DASHBOARD)
    assert response.status_code == 200
    counts = {row["status"]: row["count"] for row in response.context["counts"]}
    assert counts == {"pending": 1, "connected": 1, "error": 4}
    groups = [
        (g["workspace"].name, g["type_label"], g["step"], [d["name"] for d in g["destinations"]])
        for g in response.context["groups"]
    ]
    assert groups == [
        ("Acme", "Custom webhook", "delivery", ["One", "Two"]),
        ("Acme", "Custom webhook", "connectivity", ["Three"]),
        ("Other", "Custom webhook", "delivery", ["Four"]),
    ]
    page = response.content.decode()
    for destination in (one, two, three, four):
        assert f'href="/admin/destinations/destination/{destination.pk}/change/"' in page
    assert f"?status__exact=error&amp;destination_type__exact=webhook&amp;workspace__id__exact={acme.pk}" in page
    assert "(unreachable)" in page


def test_the_grouped_list_link_filters_the_changelist(staff):
    acme = WorkspaceFactory(name="Acme")
    failed(DestinationFactory(workspace=acme, name="One"), "delivery")
    failed(DestinationFactory(name="Elsewhere"), "delivery")
    group = staff.get(DASHBOARD).context["groups"][0]
    listed = {d.name for d in staff.get(group["list_url"]).context["cl"].result_list}
    assert listed == {group["destinations"][0]["name"]}


def test_a_destination_in_error_never_tested_is_listed_without_a_step(staff):
    DestinationFactory(name="Imported", status=DestinationStatus.ERROR, status_error="set by hand")
    [group] = staff.get(DASHBOARD).context["groups"]
    assert group["step"] == "" and group["destinations"][0]["name"] == "Imported"


def test_nothing_failing(staff):
    DestinationFactory(status=DestinationStatus.CONNECTED)
    assert 'id="no-failures"' in staff.get(DASHBOARD).content.decode()


def test_admin_index_shows_counts_and_links_the_dashboard(staff):
    failed(DestinationFactory(), "delivery")
    DestinationFactory(status=DestinationStatus.CONNECTED)
    page = staff.get("/admin/").content.decode()
    assert 'id="destinations-summary"' in page
    assert f'href="{DASHBOARD}" id="failures-dashboard-link"' in page
    assert 'href="/admin/destinations/destination/?status__exact=error" data-status="error">1</a>' in page
    assert 'href="/admin/destinations/destination/?status__exact=connected" data-status="connected">1</a>' in page


def test_the_dashboard_lists_credentials_and_api_versions_expiring_soon(staff, settings, monkeypatch):
    from datetime import date, timedelta

    from django.utils import timezone

    from connectors.webhook import WebhookConnector
    from destinations.models import Destination

    settings.EXPIRY_WARNING_DAYS = 14
    soon, later = timezone.now() + timedelta(days=5), timezone.now() + timedelta(days=40)
    for name, moment in (("Expiring", soon), ("Fine", later)):
        destination = DestinationFactory(name=name, destination_type="webhook")
        entry = {
            "credential": "access_token",
            "expires_at": moment.isoformat().replace("+00:00", "Z"),
            "source": "https://vendor.example.com/tokens",
            "remedy": "Reconnect the vendor.",
        }
        Destination.objects.filter(pk=destination.pk).update(credential_expiries=[entry], credentials_expire_at=moment)
    page = staff.get(DASHBOARD).content.decode()
    assert 'id="expiring"' in page and "Expiring</a>" in page and "Fine</a>" not in page
    assert "Reconnect the vendor." in page

    monkeypatch.setattr(WebhookConnector, "default_api_version", "v1")
    monkeypatch.setattr(WebhookConnector, "api_version_sunset", date.today() + timedelta(days=30))
    monkeypatch.setattr(WebhookConnector, "api_version_doc", "https://hooks.example.com/versions")
    page = staff.get(DASHBOARD).content.decode()
    assert 'data-credential="api_version v1"' in page and "Fine</a>" in page


def test_the_dashboard_says_when_nothing_expires_soon(staff):
    assert 'id="no-expiring"' in staff.get(DASHBOARD).content.decode()
