"""The admin's Test connection page and its SSE endpoint (the bulk action: tests/admin/test_monitoring_admin.py).

The runs execute on worker threads with their own database connections, hence transactional tests.
"""

import time

import pytest

from destinations.models import Destination, DestinationStatus, TestRun
from tests.admin.conftest import API_KEY
from tests.admin_forms import change_url, messages_of
from tests.factories import DestinationFactory
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)


def hook(receiver, key=API_KEY, **kwargs):
    return DestinationFactory(
        config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": key}}, **kwargs
    )


def page_url(destination) -> str:
    return f"/admin/destinations/destination/{destination.pk}/test/"


def start(staff, destination):
    response = staff.post(page_url(destination))
    assert response.status_code == 303, response.content[:500]
    run = TestRun.objects.get(destination=destination)
    assert response["Location"] == f"{page_url(destination)}{run.pk}/"
    return run


def wait_finished(run, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.finished_at is not None:
            return run
        time.sleep(0.05)
    raise AssertionError("the run did not finish")


def test_post_starts_a_run_and_the_events_stream_its_steps(staff, staff_user, receiver):
    destination = hook(receiver)
    run = start(staff, destination)
    assert run.trigger == "admin" and run.actor == staff_user

    events = read_stream(staff.get(f"{page_url(destination)}{run.pk}/events/"))
    assert [(e.type, e.data.get("name")) for e in events] == [
        ("step", "connectivity"),
        ("step", "delivery"),
        ("done", None),
    ]
    done = events[-1].data
    assert done["success"] is True and done["destination"]["status"] == "connected"
    assert API_KEY not in str([e.data for e in events])
    destination.refresh_from_db()
    assert destination.status == DestinationStatus.CONNECTED and destination.last_tested_at is not None


def test_events_resume_after_last_event_id(staff, receiver):
    destination = hook(receiver)
    run = start(staff, destination)
    events = read_stream(staff.get(f"{page_url(destination)}{run.pk}/events/"))
    resumed = read_stream(staff.get(f"{page_url(destination)}{run.pk}/events/", HTTP_LAST_EVENT_ID=events[0].id))
    assert [e.id for e in resumed] == [e.id for e in events[1:]]


def test_running_page_follows_the_stream(staff, receiver):
    destination = hook(receiver)
    receiver.slow("hook", 1.0)
    run = start(staff, destination)
    page = staff.get(f"{page_url(destination)}{run.pk}/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "connectionTest.follow(" in body and f"{page_url(destination)}{run.pk}/events/" in body
    assert 'data-state="running"' in body
    assert API_KEY not in body
    wait_finished(run)


def test_finished_run_page_is_rendered_from_history(staff, receiver):
    destination = hook(receiver, key="wrong-key")
    run = wait_finished(start(staff, destination))
    body = staff.get(f"{page_url(destination)}{run.pk}/").content.decode()
    assert "connectionTest.follow(" not in body
    assert 'data-step="connectivity" data-status="passed"' in body
    assert 'data-step="delivery" data-status="failed"' in body
    assert "<code>auth_invalid</code>" in body
    assert 'id="test-result" class="test-result" data-state="failed"' in body
    assert 'class="status-badge status-error"' in body
    assert "wrong-key" not in body


def test_page_without_a_run_offers_the_button(staff, receiver):
    destination = hook(receiver)
    body = staff.get(page_url(destination)).content.decode()
    assert 'id="run-test"' in body and "csrfmiddlewaretoken" in body and "connectivity" in body
    assert not TestRun.objects.exists()


def test_start_needs_csrf(staff_user, receiver):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    destination = hook(receiver)
    assert client.post(page_url(destination)).status_code == 403
    assert not TestRun.objects.exists()


def test_staff_only(client, django_user_model, receiver):
    destination = hook(receiver)
    run = TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    for url in (page_url(destination), f"{page_url(destination)}{run.pk}/", f"{page_url(destination)}{run.pk}/events/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url
    django_user_model.objects.create_user(username="plain", password="pw-plain-1")
    client.force_login(django_user_model.objects.get(username="plain"))
    assert client.post(page_url(destination)).status_code == 302
    assert TestRun.objects.count() == 1


def test_a_run_is_reached_only_through_its_destination(staff, receiver):
    destination, other = hook(receiver), hook(receiver)
    run = TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="webhook")
    assert staff.get(f"{page_url(other)}{run.pk}/").status_code == 404
    assert staff.get(f"{page_url(other)}{run.pk}/events/").status_code == 404


def test_view_only_staff_can_watch_but_not_start(client, django_user_model, receiver):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="viewer", password="pw-view-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_destination"))
    client.force_login(user)
    destination = hook(receiver)
    page = client.get(page_url(destination))
    assert page.status_code == 200 and 'id="run-test"' not in page.content.decode()
    assert client.post(page_url(destination)).status_code == 403
    assert 'id="test-connection"' not in client.get(change_url(destination)).content.decode()


def test_invalid_stored_config_is_reported_not_run(staff, receiver):
    destination = hook(receiver)
    Destination.objects.filter(pk=destination.pk).update(config={"url": "not a url"})
    response = staff.post(page_url(destination), follow=True)
    assert response.redirect_chain[-1][0] == change_url(destination)
    assert any("config.url" in m for m in messages_of(response))
    assert not TestRun.objects.exists()
