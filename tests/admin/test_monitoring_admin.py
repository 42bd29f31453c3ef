# ruff: noqa: F811  (receiver and notification_receiver are fixtures imported from tests.hooks)
"""Admin: the bulk action runs as jobs with a live progress page; workspace health-check settings with a
signing secret shown once; the read-only notification log."""

from __future__ import annotations

import pytest
from django.db import connection

from destinations.models import Destination, Notification, TestJob, TestRun, WorkspaceMonitoring
from destinations.services.notifications import workspace_monitoring_update
from tests.factories import WorkspaceFactory
from tests.hooks import hook, notification_receiver, receiver, wait_for  # noqa: F401  (fixtures: this module's tests use the hooks' receiver, not the admin folder's)
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)

LIST_URL = "/admin/destinations/destination/"


def test_the_action_enqueues_jobs_and_redirects_to_live_progress(staff, staff_user, receiver):
    good = hook(receiver, name="Good hook")
    bad = hook(receiver, key="nope", name="Bad hook")
    elsewhere = hook(receiver, name="Other workspace hook")
    untouched = hook(receiver, name="Not selected", workspace=good.workspace)
    selected = [str(good.pk), str(bad.pk), str(elsewhere.pk)]

    response = staff.post(LIST_URL, {"action": "test_selected", "_selected_action": selected})
    assert response.status_code == 303  # answered at once: the tests run in the background
    jobs = list(TestJob.objects.order_by("created_at"))
    assert len(jobs) == 3  # one per workspace among the selection (the factory makes one each)
    assert response["Location"].startswith("/admin/destinations/testjob/progress/?job=")

    page = staff.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    for job in jobs:
        assert f'data-job="{job.pk}"' in html

    for job in jobs:
        events = read_stream(staff.get(f"/admin/destinations/testjob/{job.pk}/events/"))
        assert events[-1].type == "done" and events[-1].data["done"] == 1
    statuses = dict(Destination.objects.values_list("name", "status"))
    assert statuses == {
        "Good hook": "connected",
        "Bad hook": "error",
        "Other workspace hook": "connected",
        "Not selected": "pending",
    }
    runs = TestRun.objects.all()
    assert {(r.trigger, r.actor_id) for r in runs} == {("job", staff_user.pk)}
    assert {job.trigger for job in jobs} == {"admin"}
    assert untouched.test_runs.count() == 0

    finished = staff.get(response["Location"]).content.decode()
    assert "Bad hook" in finished and "auth_invalid" in finished and "Finished." in finished


def test_the_action_past_a_workspaces_cap_of_jobs_says_so_and_starts_the_others(staff, receiver, settings):
    settings.TEST_JOBS_PER_WORKSPACE = 1
    busy = hook(receiver, name="Busy workspace hook")
    TestJob.objects.create(workspace=busy.workspace, trigger="api")  # queued: the workspace is at its cap
    free = hook(receiver, name="Free workspace hook")

    response = staff.post(
        LIST_URL, {"action": "test_selected", "_selected_action": [str(busy.pk), str(free.pk)]}, follow=True
    )
    assert "TEST_JOBS_PER_WORKSPACE" in response.content.decode()
    assert TestJob.objects.filter(workspace=busy.workspace).count() == 1
    [started] = TestJob.objects.filter(workspace=free.workspace)
    wait_for(lambda: TestJob.objects.get(pk=started.pk).state == "done", timeout=15)


def test_progress_needs_staff(client, receiver):
    job = TestJob.objects.create(workspace=WorkspaceFactory(), trigger="admin")
    response = client.get(f"/admin/destinations/testjob/progress/?job={job.pk}")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get(f"/admin/destinations/testjob/{job.pk}/events/").status_code == 302


def test_setting_a_notification_url_shows_the_secret_once(staff):
    workspace = WorkspaceFactory()
    response = staff.post(
        "/admin/destinations/workspacemonitoring/add/",
        {"workspace": str(workspace.pk), "check_interval_minutes": "60", "notification_url": "https://ops.example/in"},
    )
    assert response.status_code == 200, response.content[:400]
    assert "no-store" in response["Cache-Control"]
    monitoring = WorkspaceMonitoring.objects.get(workspace=workspace)
    secret = monitoring.signing_secret["secret"]
    assert secret in response.content.decode()
    assert monitoring.check_interval_minutes == 60

    change = staff.get(f"/admin/destinations/workspacemonitoring/{workspace.pk}/change/").content.decode()
    assert secret not in change and "never shown again" in change

    rotated = staff.post(f"/admin/destinations/workspacemonitoring/{workspace.pk}/rotate-secret/")
    monitoring.refresh_from_db()
    assert monitoring.signing_secret["secret"] != secret
    assert monitoring.signing_secret["secret"] in rotated.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT signing_secret FROM destinations_workspacemonitoring")
        assert monitoring.signing_secret["secret"] not in cursor.fetchone()[0]


def test_a_notification_url_must_be_http(staff):
    workspace = WorkspaceFactory()
    response = staff.post(
        "/admin/destinations/workspacemonitoring/add/",
        {"workspace": str(workspace.pk), "notification_url": "ftp://ops.example/in"},
    )
    assert response.status_code == 200
    assert "Must be an http(s) URL with a host." in response.content.decode()
    assert not WorkspaceMonitoring.objects.exists()


def test_the_notification_log_is_read_only(staff, receiver, notification_receiver):
    from destinations.jobs.pool import run_destination_test

    destination = hook(receiver, key="nope", status="connected")
    workspace_monitoring_update(
        workspace=destination.workspace, notification_url=f"{notification_receiver.url}/notifications"
    )
    run_destination_test(destination)
    notification = Notification.objects.get()
    listing = staff.get("/admin/destinations/notification/").content.decode()
    assert "connected → error" in listing
    detail = staff.get(f"/admin/destinations/notification/{notification.pk}/change/")
    assert detail.status_code == 200
    assert b'name="state"' not in detail.content  # no editable field
    assert staff.get("/admin/destinations/notification/add/").status_code == 403
    assert "nope" not in detail.content.decode()


def test_a_destination_may_override_the_interval(staff, receiver):
    from tests.admin_forms import change_url, destination_form

    destination = hook(receiver)
    response = staff.post(change_url(destination), destination_form(destination, check_interval_minutes="15"))
    assert response.status_code == 302, response.content[:600]
    destination.refresh_from_db()
    assert destination.check_interval_minutes == 15
    staff.post(change_url(destination), destination_form(destination, check_interval_minutes=""))
    destination.refresh_from_db()
    assert destination.check_interval_minutes is None
