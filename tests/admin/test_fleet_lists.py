"""The admin's lists cost the same at any table size: no DISTINCT over the ordering column, no date hierarchy,
counts that stop at a bound, and a page's queries that do not grow with its rows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from destinations.admin import filters
from destinations.admin.paging import COUNT_BOUND
from destinations.models import TestRun
from tests.factories import DestinationFactory, WorkspaceFactory

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


def workspace_choices(response) -> list[str]:
    (spec,) = [s for s in response.context["cl"].filter_specs if s.title == "workspace"]
    return [c["display"] for c in spec.choices(response.context["cl"])][1:]  # after "All"


def test_the_workspace_filter_offers_the_first_workspaces_by_name_and_the_one_chosen(staff, monkeypatch):
    monkeypatch.setattr(filters, "WORKSPACE_CHOICES", 3)  # a fleet's thousands, made small
    named = {n: DestinationFactory(workspace=WorkspaceFactory(name=f"W{n}")).workspace for n in range(1, 6)}
    WorkspaceFactory(name="W0 without destinations")
    url = reverse("admin:destinations_destination_changelist")
    assert [c.split(" (")[0] for c in workspace_choices(staff.get(url))] == ["W1", "W2", "W3"]
    chosen = staff.get(url, {"workspace__id__exact": str(named[5].pk)})
    assert [c.split(" (")[0] for c in workspace_choices(chosen)] == ["W1", "W2", "W3", "W5"]
    assert [d.workspace_id for d in chosen.context["cl"].result_list] == [named[5].pk]
    workspace_page = staff.get(reverse("admin:workspaces_workspace_changelist")).content.decode()
    assert f"{url}?workspace__id__exact={named[5].pk}" in workspace_page  # how a workspace beyond them is reached


def test_the_destination_type_filter_offers_the_registered_types_without_reading_the_destinations(staff):
    seed(1, 0)
    sql = list_queries(staff, "destination")
    assert not [s for s in sql if "DISTINCT" in s and "destinations_destination" in s]
