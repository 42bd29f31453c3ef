"""Delete connection-test history (runs and their stored events) older than a number of days.

Idempotency keys past IDEMPOTENCY_KEY_HOURS go too (a new request would already ignore them).
"""

from datetime import timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from destinations.models import TestRun
from destinations.services.idempotency import idempotency_keys_purge
from workspaces.management.scripting import ScriptableCommand


class Command(ScriptableCommand):
    help = "Delete test runs, and the SSE events stored with them, that started more than --older-than-days ago."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, default=30, help="Keep this many days (default 30).")

    def handle(self, *args, older_than_days: int, **options):
        if older_than_days < 1:
            raise CommandError("--older-than-days must be at least 1.")
        cutoff = timezone.now() - timedelta(days=older_than_days)
        _count, by_model = TestRun.objects.filter(started_at__lt=cutoff).delete()
        runs = by_model.get("destinations.TestRun", 0)
        events = by_model.get("destinations.TestRunEvent", 0)
        self.stdout.write(f"Deleted {runs} test runs and {events} stored events older than {older_than_days} days.")
        self.stdout.write(f"Deleted {idempotency_keys_purge()} idempotency keys past their keeping time.")
