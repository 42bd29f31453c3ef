"""Reads, always scoped to one workspace: an id from another workspace is simply not found.

The last two are the staff's deployment-wide reads (the admin index and the destinations list).
"""

from __future__ import annotations

import uuid

from django.db.models import Count, QuerySet

from .models import Connection, Destination, DestinationStatus, TestJob, TestRun


class NotFound(LookupError):
    """Raised for ids that do not exist in the caller's workspace (whether or not they exist elsewhere)."""


def _get(queryset: QuerySet, object_id, what: str):
    try:
        return queryset.get(pk=uuid.UUID(str(object_id)))
    except (ValueError, queryset.model.DoesNotExist):
        raise NotFound(f"{what} not found.") from None


def destination_list(*, workspace) -> QuerySet[Destination]:
    return Destination.objects.filter(workspace=workspace).order_by("created_at", "id")


def destination_get(*, workspace, destination_id) -> Destination:
    return _get(destination_list(workspace=workspace).select_related("connection"), destination_id, "Destination")


def connection_list(*, workspace) -> QuerySet[Connection]:
    return Connection.objects.filter(workspace=workspace).order_by("created_at", "id")


def connection_get(*, workspace, connection_id) -> Connection:
    return _get(connection_list(workspace=workspace), connection_id, "Connection")


def test_run_list(*, workspace, destination: Destination | None = None) -> QuerySet[TestRun]:
    runs = TestRun.objects.filter(workspace=workspace).order_by("-started_at", "-id")
    if destination is not None:
        runs = runs.filter(destination=destination)
    return runs


def test_run_get(*, workspace, run_id) -> TestRun:
    return _get(TestRun.objects.filter(workspace=workspace), run_id, "Test run")


def test_job_get(*, workspace, job_id) -> TestJob:
    return _get(TestJob.objects.filter(workspace=workspace), job_id, "Test job")


def status_counts() -> dict[str, int]:
    """COUNT(*), not COUNT(id): the status index answers alone (an index-only scan, not a read of every row)."""
    counts = dict.fromkeys(DestinationStatus.values, 0)
    for row in Destination.objects.order_by().values("status").annotate(n=Count("*")):
        counts[row["status"]] = row["n"]
    return counts


def latest_failure(destination: Destination) -> dict | None:
    """The failed step of the destination's latest finished test, if that test failed."""
    run = (
        TestRun.objects.filter(destination=destination, finished_at__isnull=False)
        .only("steps", "success")
        .order_by("-started_at")
        .first()
    )
    return run.failed_step if run is not None and run.success is False else None
