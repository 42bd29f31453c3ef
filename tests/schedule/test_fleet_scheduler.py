"""The scheduler at fleet size: a due query that does not grow with the destinations, ticks that start their
checks in bounded batches, and unchanged stored configs that are not validated again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.webhook import WebhookConnector
from destinations.models import Destination
from destinations.schedule.health_checks import due_destinations, health_checks_plan, health_checks_start
from tests.factories import WorkspaceFactory
from tests.hooks import hook, wait_runs_finished

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _defaults(settings):
    settings.HEALTH_CHECK_INTERVAL_MINUTES = 24 * 60
    settings.HEALTH_CHECK_JITTER_SECONDS = 0
    settings.HEALTH_CHECK_MAX_CONCURRENT_PER_WORKSPACE = 100
    settings.HEALTH_CHECK_START_SECONDS = 60


def stale(destination):
    Destination.objects.filter(pk=destination.pk).update(last_tested_at=timezone.now() - timedelta(days=2))
    return destination


def due_sql() -> str:
    with CaptureQueriesContext(connection) as captured:
        due_destinations(now=timezone.now()).count()
    return captured.captured_queries[-1]["sql"]


def test_the_due_query_has_one_branch_per_interval_not_per_destination(receiver):
    for _ in range(2):
        hook(receiver, check_interval_minutes=10)
    few = due_sql()
    for _ in range(6):
        hook(receiver, check_interval_minutes=10)
    assert len(due_sql()) == len(few)


def test_a_tick_starts_at_most_a_batch_and_leaves_the_rest_planned(settings, receiver):
    settings.HEALTH_CHECK_START_BATCH = 2
    workspace = WorkspaceFactory()
    for _ in range(5):
        stale(hook(receiver, workspace=workspace))
    health_checks_plan()
    assert len(health_checks_start().started) == 2
    assert Destination.objects.filter(health_check_due_at__isnull=False).count() == 3
    wait_runs_finished()
    settings.HEALTH_CHECK_START_SECONDS = 0  # past its time: a tick still starts one, then stops
    assert len(health_checks_start().started) == 1
    assert Destination.objects.filter(health_check_due_at__isnull=False).count() == 2
    wait_runs_finished()


def test_starting_checks_costs_the_same_queries_however_many_workspaces_they_span(receiver):
    def start_queries(workspaces: list) -> int:
        for workspace in workspaces:
            stale(hook(receiver, workspace=workspace))
        health_checks_plan()
        with CaptureQueriesContext(connection) as captured:
            assert len(health_checks_start().started) == len(workspaces)
        wait_runs_finished()
        Destination.objects.update(last_tested_at=timezone.now())
        return len(captured.captured_queries)

    one = WorkspaceFactory()
    assert start_queries([WorkspaceFactory() for _ in range(3)]) == start_queries([one, one, one])


def test_an_unchanged_stored_config_is_validated_once(monkeypatch, receiver):
    validations = []
    validate = WebhookConnector.validate_config.__func__

    def counted(cls, config, **kwargs):
        validations.append(config.get("url"))
        return validate(cls, config, **kwargs)

    monkeypatch.setattr(WebhookConnector, "validate_config", classmethod(counted))
    destination = stale(hook(receiver))
    for _ in range(2):
        health_checks_plan()
        assert len(health_checks_start().started) == 1
        wait_runs_finished()
        stale(destination)
    assert len(validations) == 1

    Destination.objects.filter(pk=destination.pk).update(config={"url": f"{receiver.url}/hooks/other"})
    health_checks_plan()
    assert len(health_checks_start().started) == 1  # a changed config is validated again
    wait_runs_finished()
    assert len(validations) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the fleet's database: SQLite has no BitmapOr")
def test_the_due_query_reads_the_due_destinations_from_the_schedule_index(receiver):
    """One range of destination_schedule per interval: among 3,000 destinations checked a minute ago, the due
    query reads the due one, not the fleet (with the table's statistics, as autovacuum keeps them)."""
    due = hook(receiver, check_interval_minutes=10)
    stale(due)
    workspace = WorkspaceFactory()
    recent = timezone.now() - timedelta(minutes=1)
    Destination.objects.bulk_create(
        Destination(workspace=workspace, name=f"Fresh {n}", destination_type="webhook", last_tested_at=recent)
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Destination._meta.db_table}")
    query = due_destinations(now=timezone.now()).order_by().values("pk")
    plan = query.explain()
    assert "destination_schedule" in plan, plan
    assert list(query) == [{"pk": due.pk}]
