"""The failures dashboard and the admin index's summary."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from destinations.admin.dashboard import EXAMPLES_PER_GROUP, GROUPS_SHOWN, TREND_DAYS
from destinations.models import Destination, DestinationStatus, TestRun
from destinations.selectors import status_counts
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


def test_counts_by_status_and_failures_grouped_by_workspace_and_type_with_their_failing_steps(staff):
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
        (
            g["workspace_label"].split(" (")[0],
            g["type_label"],
            g["count"],
            [(d["name"], d["step"]) for d in g["destinations"]],
        )
        for g in response.context["groups"]
    ]
    assert groups == [
        ("Acme", "Custom webhook", 3, [("One", "delivery"), ("Three", "connectivity"), ("Two", "delivery")]),
        ("Other", "Custom webhook", 1, [("Four", "delivery")]),
    ]
    page = response.content.decode()
    for destination in (one, two, three, four):
        assert f'href="/admin/destinations/destination/{destination.pk}/change/"' in page
    assert f"?status__exact=error&amp;destination_type__exact=webhook&amp;workspace__id__exact={acme.pk}" in page
    assert "(unreachable)" in page


def test_the_grouped_list_link_filters_the_changelist(staff):
    acme = WorkspaceFactory(name="Acme")
    failed(DestinationFactory(workspace=acme, name="One"), "delivery")
    failed(DestinationFactory(workspace=acme, name="Two"), "delivery")
    failed(DestinationFactory(name="Elsewhere"), "delivery")
    group = staff.get(DASHBOARD).context["groups"][0]
    listed = {d.name for d in staff.get(group["list_url"]).context["cl"].result_list}
    assert listed == {"One", "Two"}


def test_a_destination_in_error_never_tested_is_listed_without_a_step(staff):
    DestinationFactory(name="Imported", status=DestinationStatus.ERROR, status_error="set by hand")
    [group] = staff.get(DASHBOARD).context["groups"]
    assert group["destinations"] == [
        {
            "name": "Imported",
            "url": group["destinations"][0]["url"],
            "error": "set by hand",
            "step": "",
            "error_code": "",
        }
    ]


def in_error(workspaces: int, per_workspace: int) -> None:
    """Destinations in error, bulk-created, each with a failed run."""
    for w in range(workspaces):
        workspace = WorkspaceFactory(name=f"W{w:03}")
        for d in range(per_workspace):
            failed(DestinationFactory(workspace=workspace, name=f"D{d:03}"), "delivery")


def test_the_page_is_capped_and_its_queries_do_not_grow_with_the_failures(staff):
    in_error(workspaces=2, per_workspace=1)
    with CaptureQueriesContext(connection) as small:
        staff.get(DASHBOARD)
    in_error(workspaces=GROUPS_SHOWN + 3, per_workspace=EXAMPLES_PER_GROUP + 2)
    cache.clear()  # both views count the finished days (the second would read them from the cache)
    with CaptureQueriesContext(connection) as large:
        response = staff.get(DASHBOARD)
    assert len(large.captured_queries) == len(small.captured_queries)
    groups = response.context["groups"]
    assert len(groups) == GROUPS_SHOWN and response.context["total_groups"] == GROUPS_SHOWN + 5
    assert all(len(g["destinations"]) == EXAMPLES_PER_GROUP for g in groups if g["count"] > EXAMPLES_PER_GROUP)
    page = response.content.decode()
    assert 'id="more-groups"' in page and f"all {EXAMPLES_PER_GROUP + 2}</a>" in page


def test_no_secret_is_decrypted_for_the_page(staff, monkeypatch):
    failed(DestinationFactory(name="Secretive", secrets={"headers": {"X-API-Key": "s3cret"}}), "delivery")
    field = Destination._meta.get_field("secrets")
    monkeypatch.setattr(type(field), "from_db_value", _refuse)
    assert staff.get(DASHBOARD).status_code == 200


def _refuse(*args, **kwargs):
    raise AssertionError("the dashboard read a destination's secrets")


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


def run_on(destination, days_ago: int, *, success: bool, code: str = "auth_invalid", remediation: str = ""):
    started = timezone.now() - timedelta(days=days_ago)
    error = {"code": code, "remediation": remediation}
    run = TestRun.objects.create(
        workspace=destination.workspace,
        destination=destination,
        destination_type=destination.destination_type,
        success=success,
        finished_at=started,
        steps=[{"name": "delivery", "status": "passed" if success else "failed", "message": "m", "error": error}],
    )
    TestRun.objects.filter(pk=run.pk).update(started_at=started)  # auto_now_add: set the past afterwards
    return run


def test_the_trend_counts_tests_passed_and_failed_per_day_overall_and_per_type(staff):
    webhook = DestinationFactory(name="Hook")
    s3 = DestinationFactory(name="Bucket", destination_type="s3")
    run_on(webhook, 0, success=True)
    run_on(webhook, 0, success=False)
    run_on(s3, 0, success=False)
    run_on(s3, 2, success=True)
    run_on(webhook, TREND_DAYS + 3, success=False)  # older than the chart: not counted
    TestRun.objects.create(workspace=webhook.workspace, destination=webhook, destination_type="webhook")  # running

    trends = staff.get(DASHBOARD).context["trends"]
    assert len(trends["days"]) == TREND_DAYS and trends["days"][-1] == timezone.now().date().isoformat()
    series = {s["key"]: s for s in trends["series"]}
    assert trends["series"][0]["label"] == "All types"
    assert (series[""]["passed"][-1], series[""]["failed"][-1], series[""]["passed"][-3]) == (1, 2, 1)
    assert (series["webhook"]["passed"][-1], series["webhook"]["failed"][-1]) == (1, 1)
    assert (series["s3"]["failed"][-1], series["s3"]["passed"][-3]) == (1, 1)
    assert sum(series[""]["failed"]) == 2 and sum(series[""]["passed"]) == 2


def test_the_newest_failures_show_their_step_code_and_remediation(staff):
    hook = DestinationFactory(name="Hook")
    run_on(hook, 3, success=False, code="old_code", remediation="Old advice.")
    run_on(hook, 0, success=False, code="auth_invalid", remediation="Check the X-API-Key header.")
    run_on(hook, 0, success=True)
    response = staff.get(DASHBOARD)
    failures = response.context["failures"]
    assert [(f["error_code"], f["remediation"], f["step"]) for f in failures] == [
        ("auth_invalid", "Check the X-API-Key header.", "delivery"),
        ("old_code", "Old advice.", "delivery"),
    ]
    page = response.content.decode()
    assert '<code class="error-code">auth_invalid</code>' in page and "Check the X-API-Key header." in page
    assert 'id="trend-data" type="application/json"' in page and "vendor/chartjs/chart.umd.min.js" in page


def test_finished_days_are_counted_once_a_day_and_today_at_every_view(staff):
    hook = DestinationFactory(name="Hook")
    run_on(hook, 1, success=True)
    first = staff.get(DASHBOARD).context["trends"]["series"][0]
    assert (first["passed"][-2], first["passed"][-1]) == (1, 0)
    run_on(hook, 1, success=True)  # yesterday is already counted: it stays as it was until tomorrow
    run_on(hook, 0, success=True)
    again = staff.get(DASHBOARD).context["trends"]["series"][0]
    assert (again["passed"][-2], again["passed"][-1]) == (1, 1)


def test_todays_finished_hours_are_counted_once_an_hour_and_the_current_hour_at_every_view(staff, monkeypatch):
    hook = DestinationFactory(name="Hook")
    afternoon = timezone.now().replace(hour=15, minute=30, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: afternoon)  # Django's clock: an hour of today that has passed

    def passed_at(moment):
        run = TestRun.objects.create(
            workspace=hook.workspace, destination=hook, destination_type="webhook", success=True, finished_at=moment
        )
        TestRun.objects.filter(pk=run.pk).update(started_at=moment)

    def today_passed() -> int:
        return staff.get(DASHBOARD).context["trends"]["series"][0]["passed"][-1]

    passed_at(afternoon.replace(hour=10))
    assert today_passed() == 1
    passed_at(afternoon.replace(hour=11))  # an hour already counted: it stays as it was until the hour ends
    passed_at(afternoon.replace(minute=10))  # the current hour: counted at every view
    assert today_passed() == 2
    monkeypatch.setattr(timezone, "now", lambda: afternoon + timedelta(hours=1))
    assert today_passed() == 3


def test_counts_by_status_are_read_from_the_status_index():
    """COUNT(*) lets the status index answer alone; COUNT(id) would read every destination's row."""
    DestinationFactory.create_batch(3)
    with CaptureQueriesContext(connection) as captured:
        status_counts()
    (sql,) = [q["sql"] for q in captured.captured_queries]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A tiny table would otherwise be read whole: left only index scans, the plan says whether the
            # index can answer alone (Index Only Scan) or each row must be read too (Index Scan).
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "Index Only Scan" in plan or "COVERING INDEX" in plan, plan
