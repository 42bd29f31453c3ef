"""The embedded runtime's guarantees: a result lands only on the config it tested, interrupted runs are
reaped, and a malformed Last-Event-ID restarts a stream instead of failing."""

import json
import threading
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from django_eventstream import send_event

from destinations.models import TestRun, TestRunEvent
from destinations.runs.runtime import connection_test_claim
from destinations.runs.service import reap_interrupted_runs
from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory
from tests.sse import LiveServer, iter_events, read_stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": "k-123"}) as server:
        yield server


def held(receiver) -> threading.Event:
    release = threading.Event()
    original = receiver.on_hook

    def on_hook(request, name):
        if request.method == "POST":
            release.wait(10)
        return original(request, name)

    receiver.on_hook = on_hook
    return release


def headers(api):
    return {"Authorization": f"Bearer {api.token}", "X-Workspace-ID": str(api.workspace.pk)}


def test_a_test_still_running_when_the_url_changes_does_not_mark_the_new_url(api, receiver):
    release = held(receiver)
    destination = DestinationFactory(
        workspace=api.workspace, config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": "k-123"}}
    )
    with LiveServer() as server:
        response = requests.post(
            f"{server.url}{api.path(f'destinations/{destination.pk}/test')}",
            headers=headers(api),
            stream=True,
            timeout=10,
        )
        events = iter_events(response)
        assert next(events).data["name"] == "connectivity"
        changed = api.put(
            api.path(f"destinations/{destination.pk}"),
            {"config": {"url": f"{receiver.url}/hooks/other", "headers": {"X-API-Key": "k-123"}}},
            format="json",
        )
        assert changed.status_code == 200, changed.json()
        release.set()
        done = next(e for e in events if e.type == "done").data
    assert done["success"] is True
    destination.refresh_from_db()
    assert destination.config["url"].endswith("/hooks/other")
    assert destination.status == "pending" and destination.last_tested_at is None
    assert TestRun.objects.get().success is True  # the history keeps what was tested


def test_an_unchanged_config_gets_its_result(api, receiver):
    destination = DestinationFactory(
        workspace=api.workspace, config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": "k-123"}}
    )
    read_stream(api.post(api.path(f"destinations/{destination.pk}/test")))
    destination.refresh_from_db()
    assert destination.status == "connected" and destination.last_tested_at is not None


def test_reaping_ends_a_run_whose_heartbeat_stopped_and_leaves_the_status(api, settings):
    settings.CONNECTION_TEST_STALE_SECONDS = 30
    destination = DestinationFactory(workspace=api.workspace, config={"url": "http://127.0.0.1:9/hooks/in"})
    run = TestRun.objects.create(
        workspace=api.workspace,
        destination=destination,
        destination_type="webhook",
        actor=api.user,
        heartbeat_at=timezone.now() - timedelta(seconds=31),
    )
    alive = TestRun.objects.create(
        workspace=api.workspace, destination_type="webhook", actor=api.user, heartbeat_at=timezone.now()
    )
    queued = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    step = {"name": "connectivity", "status": "passed", "message": "ok", "duration_ms": 3}
    send_event(run.channel, "step", step)

    assert reap_interrupted_runs() == 1
    assert reap_interrupted_runs() == 0  # each run is ended once
    run.refresh_from_db()
    assert run.success is False and run.error_code == "interrupted" and run.steps == [step]
    done = json.loads(TestRunEvent.objects.get(run=run, type="done").data)
    assert done["error_code"] == "interrupted" and done["destination"]["status"] == "pending"
    destination.refresh_from_db()
    assert destination.status == "pending" and destination.last_tested_at is None
    assert TestRun.objects.filter(pk__in=[alive.pk, queued.pk], finished_at__isnull=True).count() == 2
    assert not connection_test_claim(run)  # a worker that gets its task late does not run it
    # a watcher attaching now gets the whole run and the stream ends
    replay = read_stream(api.get(api.path(f"destinations/test-runs/{run.pk}/events")))
    assert [e.type for e in replay] == ["step", "done"]


def test_a_run_never_started_is_reaped_after_the_queue_limit(api, settings):
    settings.CONNECTION_TEST_QUEUE_SECONDS = 60
    run = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    TestRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(seconds=61))
    assert reap_interrupted_runs() == 1
    assert TestRun.objects.get(pk=run.pk).error_code == "interrupted"


@pytest.mark.parametrize("value", ["²", "¹²", "9" * 4400, "testrun-zz:1", "\u0661"])
def test_a_malformed_last_event_id_replays_the_run_instead_of_failing(api, receiver, value):
    config = {"url": f"{receiver.url}/hooks/in", "headers": {"X-API-Key": "k-123"}}
    events = read_stream(
        api.post(api.path("destinations/test"), {"destination_type": "webhook", "config": config}, format="json")
    )
    run_id = events[-1].data["test_run_id"]
    response = api.get(api.path(f"destinations/test-runs/{run_id}/events"), HTTP_LAST_EVENT_ID=value)
    assert response.status_code == 200
    assert [e.id for e in read_stream(response)] == [e.id for e in events]


def test_a_stream_ends_after_its_maximum_lifetime(api, settings):
    settings.SSE_MAX_STREAM_SECONDS = 0.5
    run = TestRun.objects.create(workspace=api.workspace, destination_type="webhook", actor=api.user)
    started = time.monotonic()
    assert read_stream(api.get(api.path(f"destinations/test-runs/{run.pk}/events"))) == []
    assert time.monotonic() - started < 3
