"""Delete connection-test history (runs and their stored events) older than a number of days.

Idempotency keys past IDEMPOTENCY_KEY_HOURS go too (a new request would already ignore them).

A fleet has millions of runs, so the purge works in short batches of ids, each its own transaction, with plain
DELETE ... WHERE id IN (...) statements (never Django's delete collector, which loads every run first): its memory
does not grow with the runs purged, and no API write waits on it for more than one batch.

It never waits on a lock itself, so it can take part in no deadlock (say with a destination's DELETE, which sets
its runs' destination to NULL): it locks its batch of runs with FOR UPDATE SKIP LOCKED, and the notification and
job-item rows that point at them likewise. A run someone else holds, or whose referring rows they hold, is left
for the next batch or the next purge. Its events go before it, then the references to it are cleared.
"""

from datetime import timedelta

from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from destinations.models import Notification, TestJobItem, TestRun, TestRunEvent
from destinations.services.idempotency import idempotency_keys_purge
from workspaces.management.scripting import ScriptableCommand

REFERRING = (Notification, TestJobItem)  # rows that keep a run's id (on_delete=SET_NULL): cleared first


def purge_batch(cutoff, size: int) -> tuple[int, int, int]:
    """Delete up to `size` runs started before `cutoff`: (runs looked at, runs deleted, events deleted)."""
    with transaction.atomic():
        ids = list(
            TestRun.objects.filter(started_at__lt=cutoff)
            .order_by("started_at")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:size]
        )
        kept = set(ids)
        clear = {}
        for model in REFERRING:
            referring = model.objects.filter(test_run_id__in=ids).order_by()
            locked = set(referring.select_for_update(skip_locked=True).values_list("pk", flat=True))
            for pk, run_id in referring.values_list("pk", "test_run_id"):
                if pk not in locked:
                    kept.discard(run_id)  # held by another transaction: this run waits for a later batch
            clear[model] = locked
        if not kept:
            return len(ids), 0, 0
        for model, pks in clear.items():
            model.objects.filter(pk__in=pks, test_run_id__in=kept).update(test_run=None)
        events = TestRunEvent.objects.filter(run_id__in=kept)._raw_delete(TestRunEvent.objects.db)
        runs = TestRun.objects.filter(pk__in=kept)._raw_delete(TestRun.objects.db)
        return len(ids), runs, events


class Command(ScriptableCommand):
    help = "Delete test runs, and the SSE events stored with them, that started more than --older-than-days ago."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, default=30, help="Keep this many days (default 30).")
        parser.add_argument("--batch-size", type=int, default=1000, help="Runs deleted per transaction (default 1000).")

    def handle(self, *args, older_than_days: int, batch_size: int, **options):
        if older_than_days < 1:
            raise CommandError("--older-than-days must be at least 1.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = timezone.now() - timedelta(days=older_than_days)
        runs = events = 0
        while True:
            looked, deleted_runs, deleted_events = purge_batch(cutoff, batch_size)
            runs, events = runs + deleted_runs, events + deleted_events
            if looked < batch_size or not deleted_runs:
                break  # the last batch, or every run left is held by someone else: the next purge takes them
        self.stdout.write(f"Deleted {runs} test runs and {events} stored events older than {older_than_days} days.")
        self.stdout.write(f"Deleted {idempotency_keys_purge()} idempotency keys past their keeping time.")
