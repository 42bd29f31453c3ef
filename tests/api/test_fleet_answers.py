"""Answers that stay bounded at fleet size: the bare list streamed in batches, history and job results in
pages, job counts kept rather than recounted."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from destinations.api import jobs as api_jobs
from destinations.api import listing
from destinations.jobs import background as jobs
from destinations.models import TestJob, TestJobItem
from destinations.services.audit import audit_record
from tests.factories import DestinationFactory

pytestmark = pytest.mark.django_db
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


def follow(api, url, key="id", inside=None):
    seen, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [row[key] for row in (body[inside] if inside else body)]
        pages += 1
        link = response.headers.get("Link")
        url = LINK.match(link)["url"] if link else None
    return seen, pages


def test_the_bare_list_streams_every_destination_in_batches(api, monkeypatch):
    monkeypatch.setattr(listing, "STREAM_BATCH", 2)
    made = [DestinationFactory(workspace=api.workspace) for _ in range(5)]
    DestinationFactory()  # another workspace's
    with CaptureQueriesContext(connection) as captured:
        response = api.get(api.path("destinations"), {"status": "pending"})
    assert response.streamed and response["Content-Type"] == "application/json"
    assert [row["id"] for row in response.json()] == [str(d.pk) for d in made]  # oldest first, a bare array
    reads = [q["sql"] for q in captured.captured_queries if '"destinations_destination"' in q["sql"]]
    assert len(reads) == 3 and all("LIMIT 2" in sql for sql in reads)  # batches of 2, never the whole table
    assert api.get(api.path("destinations"), {"cursor": "x"}).status_code == 400  # a cursor needs limit
    assert api.get(api.path("destinations"), {"colour": "red"}).status_code == 400


def test_the_bare_list_of_nothing_is_an_empty_array(api):
    response = api.get(api.path("destinations"))
    assert response.json() == []


def test_a_destinations_history_comes_in_pages(api):
    destination = DestinationFactory(workspace=api.workspace)
    for _ in range(7):
        audit_record(workspace=api.workspace, actor=None, via="api", action="test", target=destination)
    url = api.path(f"destinations/{destination.pk}/history")
    with CaptureQueriesContext(connection) as captured:
        first = api.get(url, {"limit": 3})
    few = len(captured.captured_queries)  # read now: the next request clears the query log
    assert len(first.json()) == 3 and "Link" in first.headers
    entries, pages = follow(api, LINK.match(first.headers["Link"])["url"])
    assert pages == 2 and len(entries) == 4
    assert len(api.get(url).json()) == 7  # the default page holds them all
    for _ in range(20):
        audit_record(workspace=api.workspace, actor=None, via="api", action="test", target=destination)
    with CaptureQueriesContext(connection) as captured:
        assert len(api.get(url, {"limit": 3}).json()) == 3
    assert len(captured.captured_queries) <= few  # (the first request also stamps the token's last use)


def test_a_jobs_answers_carry_a_page_of_results_and_its_kept_counts(api, monkeypatch):
    monkeypatch.setattr(api_jobs, "test_job_submit", lambda job: None)  # recorded, left queued: nothing runs it
    destinations = [DestinationFactory(workspace=api.workspace) for _ in range(5)]
    created = api.post(api.path("destinations/test-jobs"), {"all": True}, format="json")
    assert created.status_code == 202
    job = TestJob.objects.get(pk=created.json()["id"])
    url = api.path(f"destinations/test-jobs/{job.pk}")
    ids, pages = follow(api, f"{url}?limit=2", key="destination_id", inside="results")
    assert ids == [str(d.pk) for d in destinations] and pages == 3

    # A result counts once, as it arrives: progress reads the counters, never the items.
    items = list(job.items.order_by("position"))
    jobs._count(job, "passed", 0)
    destination = destinations[0]
    destination.delete()
    assert jobs._start(job, items[0]) is None  # deleted since: missing
    with CaptureQueriesContext(connection) as captured:
        body = api.get(url, {"limit": 2}).json()
    assert (body["total"], body["done"], body["missing"], body["passed"]) == (5, 1, 1, 0)
    assert not [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"]]
    TestJobItem.objects.filter(pk=items[1].pk).update(state="passed")  # not through the runner: not counted
    assert api.get(url).json()["done"] == 1
