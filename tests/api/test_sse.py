"""The SSE connection-test endpoints, end to end against a local webhook receiver."""

import threading
import time
import uuid

import pytest
import requests

from destinations.models import Destination, TestRun
from tests.emulators.webhook import WebhookReceiver
from tests.factories import DestinationFactory
from tests.sse import LiveServer, iter_events, read_stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver():
    with WebhookReceiver(required_headers={"X-API-Key": "k-123"}) as server:
        yield server


def webhook_config(receiver, key="k-123"):
    return {"url": f"{receiver.url}/hooks/in", "headers": {"X-API-Key": key}}


def test_new_connection_streams_steps_then_done(api, receiver):
    response = api.post(
        api.path("destinations/test"),
        {"destination_type": "webhook", "config": webhook_config(receiver)},
        format="json",
    )
    assert response.status_code == 200
    events = read_stream(response)
    assert [e.type for e in events] == ["step", "step", "done"]
    assert [e.data["name"] for e in events[:2]] == ["connectivity", "delivery"]
    assert all(e.data["status"] == "passed" for e in events[:2])
    done = events[-1].data
    assert done["success"] is True and len(done["steps"]) == 2 and "destination" not in done
    run = TestRun.objects.get(pk=done["test_run_id"])
    assert run.success is True and run.destination is None and run.actor == api.user
    assert response["X-Test-Run-ID"] == done["test_run_id"]
    assert [int(e.id.split(":")[1]) for e in events] == [1, 2, 3]


def test_stored_destination_updates_status_and_history(api, receiver):
    destination = DestinationFactory(
        workspace=api.workspace,
        config={"url": f"{receiver.url}/hooks/in"},
        secrets={"headers": {"X-API-Key": "wrong-key-xyz"}},
    )
    events = read_stream(api.post(api.path(f"destinations/{destination.pk}/test")))
    done = events[-1].data
    assert done["success"] is False
    assert done["destination"]["status"] == "error"
    assert done["destination"]["status_error"] == events[1].data["message"]
    assert events[1].data["error"]["code"] == "auth_invalid"
    assert done["destination"]["config"]["headers"] == {"X-API-Key": "********"}
    destination.refresh_from_db()
    assert destination.status == "error" and destination.last_tested_at is not None

    # an override config for this test only: it passes, but the stored (failing) config stays `error`
    events = read_stream(
        api.post(
            api.path(f"destinations/{destination.pk}/test"),
            {"config": {"headers": {"X-API-Key": "k-123"}}},
            format="json",
        )
    )
    assert events[-1].data["success"] is True
    assert events[-1].data["destination"]["status"] == "error"
    assert Destination.objects.get(pk=destination.pk).secrets == {"headers": {"X-API-Key": "wrong-key-xyz"}}

    history = api.get(api.path(f"destinations/{destination.pk}/test-runs")).json()
    assert [run["success"] for run in history] == [True, False]
    assert history[1]["steps"][1]["error"]["code"] == "auth_invalid"
    assert "wrong-key-xyz" not in str(history)  # not a hex string: run ids cannot contain it


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"destination_type": "fax", "config": {}}, "destination_type"),
        ({"destination_type": "webhook", "config": {"url": "nope"}}, "config.url"),
        ({"config": {}}, "destination_type"),
    ],
)
def test_bad_body_is_a_json_400_not_a_stream(api, body, path):
    response = api.post(api.path("destinations/test"), body, format="json", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert path in response.json()["errors"]
    assert not TestRun.objects.exists()


def test_overall_time_limit_ends_a_stuck_run(api, receiver, settings):
    settings.CONNECTION_TEST_TIMEOUT_SECONDS = 0.5
    receiver.slow("hook", 3)
    started = time.monotonic()
    events = read_stream(
        api.post(
            api.path("destinations/test"),
            {"destination_type": "webhook", "config": webhook_config(receiver)},
            format="json",
        )
    )
    assert time.monotonic() - started < 2.5
    assert events[0].data["error"]["code"] == "timeout"
    assert events[1].data["status"] == "skipped"
    assert events[-1].data["success"] is False


def test_reattach_replays_the_whole_run_then_ends(api, receiver):
    events = read_stream(
        api.post(
            api.path("destinations/test"),
            {"destination_type": "webhook", "config": webhook_config(receiver)},
            format="json",
        )
    )
    run_id = events[-1].data["test_run_id"]
    replay = read_stream(api.get(api.path(f"destinations/test-runs/{run_id}/events")))
    assert [(e.type, e.id, e.data) for e in replay] == [(e.type, e.id, e.data) for e in events]
    resumed = read_stream(api.get(api.path(f"destinations/test-runs/{run_id}/events"), HTTP_LAST_EVENT_ID=events[0].id))
    assert [e.id for e in resumed] == [e.id for e in events[1:]]
    assert api.get(api.path(f"destinations/test-runs/{run_id}")).json()["success"] is True

    # resuming at or after `done` is a 204 (an EventSource stops); another run's id replays it from the start
    for last in (events[-1].id, f"{events[0].id[:-2]}:99"):
        after_done = api.get(api.path(f"destinations/test-runs/{run_id}/events"), HTTP_LAST_EVENT_ID=last)
        assert after_done.status_code == 204 and after_done.content == b""
    other = f"testrun-{uuid.uuid4()}:2"
    unknown = read_stream(api.get(api.path(f"destinations/test-runs/{run_id}/events"), HTTP_LAST_EVENT_ID=other))
    assert [e.id for e in unknown] == [e.id for e in events]


def live_post(server, api, suffix, body=None):
    return requests.post(
        f"{server.url}{api.path(suffix)}",
        json=body,
        headers={
            "Authorization": f"Bearer {api.token}",
            "X-Workspace-ID": str(api.workspace.pk),
            "Accept": "text/event-stream",
        },
        stream=True,
        timeout=10,
    )


def test_steps_arrive_live_through_uvicorn(api, receiver):
    """Step 1's event reaches the client while the slow step 2 is still running."""
    receiver.slow("hook", 0)  # HEAD is quick...
    delivery_delay = 1.5

    original = receiver.on_hook

    def slow_delivery(request, name):
        if request.method == "POST":
            time.sleep(delivery_delay)
        return original(request, name)

    receiver.on_hook = slow_delivery
    with LiveServer() as server:
        started = time.monotonic()
        response = live_post(
            server, api, "destinations/test", {"destination_type": "webhook", "config": webhook_config(receiver)}
        )
        arrivals = []
        for event in iter_events(response):
            arrivals.append((event.type, event.data.get("name"), time.monotonic() - started))
    assert [a[:2] for a in arrivals] == [("step", "connectivity"), ("step", "delivery"), ("done", None)]
    assert arrivals[0][2] < delivery_delay - 0.3 < arrivals[1][2]


def test_client_disconnect_does_not_stop_the_stored_test(api, receiver):
    destination = DestinationFactory(
        workspace=api.workspace, config={"url": f"{receiver.url}/hooks/in"}, secrets={"headers": {"X-API-Key": "k-123"}}
    )
    original = receiver.on_hook
    release = threading.Event()

    def held_delivery(request, name):
        if request.method == "POST":
            release.wait(5)
        return original(request, name)

    receiver.on_hook = held_delivery
    with LiveServer() as server:
        response = live_post(server, api, f"destinations/{destination.pk}/test")
        first = next(iter_events(response))
        assert first.data["name"] == "connectivity"
        response.close()  # the client goes away mid-run
        release.set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            destination.refresh_from_db()
            if destination.status != "pending":
                break
            time.sleep(0.05)
    assert destination.status == "connected"
    assert TestRun.objects.get(destination=destination).success is True


def test_no_event_lost_or_repeated_under_concurrency(api, receiver):
    """Many fast runs at once through the real server: every stream gets ids 1..n exactly once."""
    results = []

    def one(server):
        response = live_post(
            server, api, "destinations/test", {"destination_type": "webhook", "config": webhook_config(receiver)}
        )
        results.append([(e.type, e.id) for e in iter_events(response)])

    with LiveServer() as server:
        threads = [threading.Thread(target=one, args=(server,)) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert len(results) == 12
    for events in results:
        assert [t for t, _ in events] == ["step", "step", "done"]
        assert [int(i.split(":")[1]) for _, i in events] == [1, 2, 3]
