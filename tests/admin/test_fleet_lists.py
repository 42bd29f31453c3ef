"""The admin's lists cost the same at any table size: no DISTINCT over the ordering column, no date hierarchy,
counts that stop at a bound, and a page's queries that do not grow with its rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from destinations.admin.paging import COUNT_BOUND
from destinations.models import TestRun
from tests.factories import DestinationFactory

pytestmark = pytest.mark.django_db


def seed(destinations: int, runs_each: int) -> None:
    for _ in range(destinations):
        destination = DestinationFactory()
        TestRun.objects.bulk_create(
            TestRun(workspace=destination.workspace, destination=destination, destination_type="webhook")
            for _ in range(runs_each)
        )


def list_queries(client, name: str, query: str = "") -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(f"admin:destinations_{name}_changelist") + query)
    assert response.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def scans(sql: list[str]) -> list[str]:
    """The statements whose cost grows with the table: a DISTINCT that carries the ordering column along,
    a date hierarchy's trunc over every row, a count without a bound."""
    return [
        s
        for s in sql
        if ("DISTINCT" in s and ("started_at" in s.split("FROM")[0] or "created_at" in s.split("FROM")[0]))
        or "django_datetime_trunc" in s
        or ("COUNT(" in s and f"LIMIT {COUNT_BOUND + 1}" not in s)
    ]


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("testrun", ""),
        ("testrun", "?success__exact=1"),
        ("testrun", "?destination_type__exact=webhook"),
        ("destination", ""),
        ("destination", "?destination_type__exact=webhook"),
        ("auditevent", ""),
    ],
)
def test_a_list_neither_scans_nor_grows_with_its_rows(staff, name, query):
    seed(2, 3)
    few = list_queries(staff, name, query)
    assert scans(few) == []
    seed(6, 3)
    assert len(list_queries(staff, name, query)) == len(few)


def test_the_test_run_type_filter_offers_the_types_without_reading_the_runs(staff):
    seed(1, 2)
    sql = list_queries(staff, "testrun")
    assert not [s for s in sql if "DISTINCT" in s and "destinations_testrun" in s]


@pytest.mark.parametrize("destination_type", ["webhook", "salesforce"])
def test_a_newest_first_page_of_one_type_is_read_from_its_index(destination_type):
    """The type filter offers every registered type: one with few or no runs must not read every run's entry."""
    seed(2, 3)
    page = TestRun.objects.filter(destination_type=destination_type).order_by("-started_at", "-id")[:100]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would otherwise be read whole
            plan = page.explain()
    else:
        plan = page.explain()
    assert "testrun_type_started" in plan, plan
