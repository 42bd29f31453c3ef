"""List endpoints: filters, unknown parameters refused, keyset pages followed through their Link headers."""

import re

from django.utils import timezone

from destinations.models import DestinationStatus, TestRun
from tests.factories import ConnectionFactory, DestinationFactory

LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def _ids(response):
    assert response.status_code == 200, response.content
    assert isinstance(response.json(), list)
    return [item["id"] for item in response.json()]


def _follow(api, url):
    """Every page from `url` on, as a client following Link headers would."""
    pages = []
    while url:
        response = api.get(url)
        pages.append(_ids(response))
        link = response.headers.get("Link")
        url = LINK.match(link)["url"] if link else None
    return pages


def test_destination_filters_each_narrow_the_bare_array(api):
    connection = ConnectionFactory(workspace=api.workspace)
    hook = DestinationFactory(workspace=api.workspace, name="Orders Hook", status=DestinationStatus.ERROR)
    shared = DestinationFactory(workspace=api.workspace, name="Leads", connection=connection)
    braze = DestinationFactory(
        workspace=api.workspace,
        name="Braze EU",
        destination_type="braze",
        config={"rest_endpoint": "https://rest.fra-01.braze.eu"},
        secrets={"api_key": "braze-secret"},
    )
    DestinationFactory(name="Orders Hook elsewhere")  # another workspace: never listed
    url = api.path("destinations")

    assert _ids(api.get(url)) == [str(hook.pk), str(shared.pk), str(braze.pk)]
    assert _ids(api.get(url, {"status": "error"})) == [str(hook.pk)]
    assert _ids(api.get(url, {"destination_type": "braze"})) == [str(braze.pk)]
    assert _ids(api.get(url, {"connection_id": str(connection.pk)})) == [str(shared.pk)]
    assert _ids(api.get(url, {"name": "hOOk"})) == [str(hook.pk)]
    assert _ids(api.get(url, {"name": "EAD", "destination_type": "webhook"})) == [str(shared.pk)]
    assert _ids(api.get(url, {"status": "connected"})) == []


def test_invalid_filter_values_are_400_naming_the_parameter(api):
    url = api.path("destinations")
    for params, name in [
        ({"status": "broken"}, "status"),
        ({"destination_type": "fax"}, "destination_type"),
        ({"connection_id": "not-a-uuid"}, "connection_id"),
        ({"status": ""}, "status"),
        ({"destination_type": ""}, "destination_type"),
        ({"connection_id": ""}, "connection_id"),
    ]:
        response = api.get(url, params)
        assert response.status_code == 400, params
        assert list(response.json()["errors"]) == [name]


def test_an_unknown_query_parameter_is_a_400_naming_it(api):
    DestinationFactory(workspace=api.workspace)
    for suffix in ("destinations", "connections"):
        response = api.get(api.path(suffix), {"stauts": "error", "name": "x"})
        assert response.status_code == 400
        body = response.json()
        assert body["errors"] == {"stauts": ["Unknown query parameter."]}
        assert "stauts" in body["detail"]
    # a connection has no status: not a filter there
    assert api.get(api.path("connections"), {"status": "error"}).json()["errors"] == {
        "status": ["Unknown query parameter."]
    }


def test_connection_filters(api):
    webhook = ConnectionFactory(workspace=api.workspace, name="Shared hook auth")
    braze = ConnectionFactory(workspace=api.workspace, name="Braze key", destination_type="braze", credentials={})
    url = api.path("connections")
    assert _ids(api.get(url, {"destination_type": "braze"})) == [str(braze.pk)]
    assert _ids(api.get(url, {"name": "HOOK"})) == [str(webhook.pk)]


def test_pages_follow_the_link_header_to_the_end_with_every_row_once(api):
    created = [DestinationFactory(workspace=api.workspace, name=f"D{i:02}") for i in range(7)]
    # rows sharing one creation time still page without gaps or repeats
    same = timezone.now()
    for destination in created[2:5]:
        type(destination).objects.filter(pk=destination.pk).update(created_at=same)
    expected = _ids(api.get(api.path("destinations")))
    assert sorted(expected) == sorted(str(d.pk) for d in created)

    pages = _follow(api, api.path("destinations") + "?limit=3")
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == expected


def test_pages_keep_the_filters(api):
    for i in range(5):
        DestinationFactory(workspace=api.workspace, name=f"keep {i}")
        DestinationFactory(workspace=api.workspace, name=f"drop {i}")
    pages = _follow(api, api.path("destinations") + "?name=keep&limit=2")
    names = [d for page in pages for d in page]
    assert len(names) == 5 and [len(p) for p in pages] == [2, 2, 1]


def test_the_last_page_has_no_link_and_no_limit_means_everything(api):
    for _ in range(3):
        DestinationFactory(workspace=api.workspace)
    response = api.get(api.path("destinations"), {"limit": 3})
    assert len(response.json()) == 3 and "Link" not in response.headers
    response = api.get(api.path("destinations"))
    assert len(response.json()) == 3 and "Link" not in response.headers


def test_bad_limit_and_cursor_are_400(api):
    DestinationFactory(workspace=api.workspace)
    DestinationFactory(workspace=api.workspace)
    url = api.path("destinations")
    for limit in ("0", "abc", "-1", "1001", "2.5"):
        response = api.get(url, {"limit": limit})
        assert response.status_code == 400, limit
        assert list(response.json()["errors"]) == ["limit"]
    next_url = LINK.match(api.get(url, {"limit": 1}).headers["Link"])["url"]
    cursor = next_url.split("cursor=")[1]
    for bad in ("garbage", cursor[:-2] + "xx"):
        response = api.get(url, {"limit": 1, "cursor": bad})
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["cursor"]
    # a cursor is bound to its listing
    response = api.get(api.path("connections"), {"limit": 1, "cursor": cursor})
    assert response.status_code == 400


def test_test_runs_page_newest_first_and_filter_by_outcome(api):
    destination = DestinationFactory(workspace=api.workspace)
    runs = [
        TestRun.objects.create(
            workspace=api.workspace,
            destination=destination,
            destination_type="webhook",
            success=i % 2 == 0,
            finished_at=timezone.now(),
        )
        for i in range(5)
    ]
    url = api.path(f"destinations/{destination.pk}/test-runs")
    newest_first = [str(r.pk) for r in reversed(runs)]
    assert _ids(api.get(url)) == newest_first
    pages = _follow(api, url + "?limit=2")
    assert [i for p in pages for i in p] == newest_first and len(pages) == 3
    assert _ids(api.get(url, {"status": "failed"})) == [str(runs[3].pk), str(runs[1].pk)]
    assert api.get(url, {"limit": "0"}).status_code == 400
    assert api.get(url, {"sort": "x"}).json()["errors"] == {"sort": ["Unknown query parameter."]}


def test_listing_is_scoped_and_the_viewer_can_filter(viewer_api, api):
    DestinationFactory(workspace=api.workspace, status=DestinationStatus.ERROR)
    DestinationFactory(workspace=viewer_api.workspace, status=DestinationStatus.ERROR)
    assert len(_ids(viewer_api.get(viewer_api.path("destinations"), {"status": "error"}))) == 1


def test_a_test_run_has_the_status_its_filter_accepts(api):
    destination = DestinationFactory(workspace=api.workspace)
    finished = timezone.now()
    running = TestRun.objects.create(workspace=api.workspace, destination=destination, destination_type="webhook")
    passed, failed, interrupted = (
        TestRun.objects.create(
            workspace=api.workspace,
            destination=destination,
            destination_type="webhook",
            success=success,
            finished_at=finished,
            error_code=code,
        )
        for success, code in ((True, ""), (False, ""), (False, "interrupted"))
    )
    url = api.path(f"destinations/{destination.pk}/test-runs")
    by_id = {run["id"]: run["status"] for run in api.get(url).json()}
    assert by_id == {
        str(running.pk): "running",
        str(passed.pk): "passed",
        str(failed.pk): "failed",
        str(interrupted.pk): "failed",
    }
    for status in ("running", "passed", "failed"):
        listed = api.get(url, {"status": status}).json()
        assert listed and {run["status"] for run in listed} == {status}
        assert sorted(run["id"] for run in listed) == sorted(i for i, s in by_id.items() if s == status)
    assert api.get(api.path(f"destinations/test-runs/{running.pk}")).json()["status"] == "running"
