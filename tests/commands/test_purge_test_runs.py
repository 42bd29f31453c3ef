"""The purge at scale: batches of raw deletes on ids, references cleared first, memory that does not grow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from destinations.models import Notification, TestJob, TestJobItem, TestRun, TestRunEvent
from tests.factories import DestinationFactory
from tests.topology import database_url

ROOT = Path(__file__).resolve().parents[2]


def old_runs(destination, n: int, *, events: int = 1) -> list[TestRun]:
    runs = TestRun.objects.bulk_create(
        TestRun(workspace=destination.workspace, destination=destination, destination_type="webhook") for _ in range(n)
    )
    TestRun.objects.filter(pk__in=[r.pk for r in runs]).update(started_at=timezone.now() - timedelta(days=40))
    TestRunEvent.objects.bulk_create(
        TestRunEvent(run=run, seq=seq, type="step", data="{}") for run in runs for seq in range(events)
    )
    return runs


@pytest.mark.django_db
def test_the_purge_deletes_in_batches_without_loading_runs_and_clears_what_refers_to_them():
    destination = DestinationFactory()
    runs = old_runs(destination, 7, events=2)
    recent = TestRun.objects.create(workspace=destination.workspace, destination=destination, destination_type="x")
    notification = Notification.objects.create(
        workspace=destination.workspace, test_run=runs[0], event_type="status.changed", payload={}, url="https://h"
    )
    job = TestJob.objects.create(workspace=destination.workspace, trigger="api", total=1)
    item = TestJobItem.objects.create(job=job, position=0, destination_name="d", destination_type="webhook")
    TestJobItem.objects.filter(pk=item.pk).update(test_run=runs[1])
    out = StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("purge_test_runs", "--batch-size", "3", stdout=out)
    assert "Deleted 7 test runs and 14 stored events" in out.getvalue()
    assert list(TestRun.objects.all()) == [recent]
    notification.refresh_from_db()
    item.refresh_from_db()
    assert notification.test_run_id is None and item.test_run_id is None
    sql = [q["sql"] for q in queries.captured_queries]
    # No run is ever loaded whole (Django's collector selects every column of every run it deletes).
    assert not [s for s in sql if s.startswith("SELECT") and '"destinations_testrun"."steps"' in s]
    # Three batches of a bounded number of statements each, however many runs there are.
    assert len(sql) <= 3 * 9 + 3


PEAK_SCRIPT = """
import json, os, tracemalloc, django
from io import StringIO
from datetime import timedelta
django.setup()
from django.conf import settings
settings.DEBUG = False  # DEBUG keeps every query's SQL: memory that grows with the batches, not the purge's
from django.core.management import call_command
from django.utils import timezone
from destinations.models import Destination, TestRun, TestRunEvent

destination = Destination.objects.get()
steps = [{"name": f"step {i}", "status": "passed", "message": "x" * 200} for i in range(8)]

def seed(n):
    for start in range(0, n, 500):
        runs = TestRun.objects.bulk_create(
            TestRun(workspace_id=destination.workspace_id, destination=destination, destination_type="webhook",
                    steps=steps) for _ in range(min(500, n - start))
        )
        TestRunEvent.objects.bulk_create(TestRunEvent(run=r, seq=s, type="step", data="{}") for r in runs
                                         for s in range(3))
    TestRun.objects.update(started_at=timezone.now() - timedelta(days=40))

def peak(n):
    seed(n)
    tracemalloc.start()
    call_command("purge_test_runs", "--batch-size", "200", stdout=StringIO())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert not TestRun.objects.exists()
    return peak

print(json.dumps({"small": peak(400), "large": peak(4000)}))
"""


@pytest.mark.django_db(transaction=True)
def test_the_purge_memory_does_not_grow_with_the_runs_purged():
    DestinationFactory()
    env = {**os.environ, "DATABASE_URL": database_url(connection.settings_dict), "DJANGO_DEBUG": "true"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "zeotap_composable.settings")
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peaks = json.loads(done.stdout.strip().splitlines()[-1])
    # Ten times the runs: the same batches, the same memory (Django's collector held every run: ~10x).
    assert peaks["large"] < peaks["small"] * 1.5 + 512 * 1024, peaks
