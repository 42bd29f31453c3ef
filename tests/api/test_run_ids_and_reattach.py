"""One spelling of a run's id (SSE ids, `test_run_id`, X-Test-Run-ID), and re-attaching once a run is done."""

import pytest

from tests.emulators.webhook import WebhookReceiver
from tests.sse import read_stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished(api):
    """A finished test run's response headers and events."""
    with WebhookReceiver() as receiver:
        response = api.post(
            api.path("destinations/test"),
            {"destination_type": "webhook", "config": {"url": f"{receiver.url}/hooks/in"}},
            format="json",
        )
        events = read_stream(response)
    assert events[-1].type == "done"
    return response, events


def test_the_run_id_is_spelled_one_way(finished):
    response, events = finished
    run_id = response["X-Test-Run-ID"]
    assert events[-1].data["test_run_id"] == run_id
    assert [event.id for event in events] == [f"testrun-{run_id}:{n}" for n in (1, 2, 3)]


def events_after(api, run_id, last_event_id):
    return api.get(api.path(f"destinations/test-runs/{run_id}/events"), HTTP_LAST_EVENT_ID=last_event_id)


def test_re_attaching_at_or_after_done_answers_204(api, finished):
    response, events = finished
    run_id = response["X-Test-Run-ID"]
    for last in (events[-1].id, f"testrun-{run_id}:4", f"testrun-{run_id}:99", "3", "7"):
        reattached = events_after(api, run_id, last)
        assert reattached.status_code == 204, last  # an EventSource stops on 204 instead of reconnecting
        assert reattached["X-Test-Run-ID"] == run_id
    resumed = events_after(api, run_id, events[0].id)
    assert resumed.status_code == 200 and [e.id for e in read_stream(resumed)] == [e.id for e in events[1:]]


def test_an_id_from_before_the_one_spelling_still_resumes(api, finished):
    response, _events = finished
    run_id = response["X-Test-Run-ID"]
    legacy = f"testrun-{run_id.replace('-', '')}:2"
    assert [e.type for e in read_stream(events_after(api, run_id, legacy))] == ["done"]
