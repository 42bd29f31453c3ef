"""Connection-test runs and the events each run streams."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from connectors.runtime.base import unproven_requirements

from .destinations import Destination


class TestRunTrigger(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    CLI = "cli", "Command line"
    SCHEDULE = "schedule", "Scheduled health check"
    JOB = "job", "Test job"


class TestRunStatus(models.TextChoices):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"

    @property
    def condition(self) -> models.Q:
        """The runs in this status, as `TestRun.status` decides it (for filters)."""
        if self is TestRunStatus.RUNNING:
            return models.Q(finished_at__isnull=True)
        finished = models.Q(finished_at__isnull=False)
        return finished & models.Q(success=True) if self is TestRunStatus.PASSED else finished & ~models.Q(success=True)


class TestRun(models.Model):
    """One connection test: who ran it, when, and each step's result (no secrets)."""

    __test__ = False  # not a pytest test class

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="test_runs")
    destination = models.ForeignKey(
        Destination, null=True, blank=True, on_delete=models.SET_NULL, related_name="test_runs"
    )
    destination_type = models.CharField(max_length=40)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    trigger = models.CharField(max_length=8, choices=TestRunTrigger.choices, default=TestRunTrigger.API)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    success = models.BooleanField(null=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    steps = models.JSONField(default=list)
    # Set by the process running the test; a stale one means that process died (see reap_interrupted_runs).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Keyed digest of the stored config the test ran with; empty for a new connection or an override,
    # whose result is never written onto the destination.
    config_digest = models.CharField(max_length=64, blank=True, default="", editable=False)
    error_code = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["destination", "-started_at"], name="testrun_dest_started"),
            models.Index(fields=["finished_at", "heartbeat_at"], name="testrun_unfinished"),
            # The dashboard's tests per day and type (an index-only scan) and its newest failures.
            models.Index(fields=["started_at", "destination_type", "success"], name="testrun_started_type_result"),
            # The admin's list (ORDER BY started_at DESC, id DESC) and the purge (started_at < cutoff).
            models.Index(fields=["-started_at", "-id"], name="testrun_started"),
            # The admin's list filtered by type, whose newest runs may be few or none (a rarely used type).
            models.Index(fields=["destination_type", "-started_at", "-id"], name="testrun_type_started"),
        ]

    def __str__(self) -> str:
        return f"Test {self.id} ({self.destination_type})"

    @property
    def channel(self) -> str:
        return f"testrun-{self.id}"  # the run id as test_run_id and X-Test-Run-ID spell it

    @property
    def status(self) -> TestRunStatus:
        """Running until it finishes, then passed or failed (an interrupted run failed)."""
        if self.finished_at is None:
            return TestRunStatus.RUNNING
        return TestRunStatus.PASSED if self.success else TestRunStatus.FAILED

    @property
    def failed_step(self) -> dict | None:
        return next((step for step in self.steps if step.get("status") == "failed"), None)

    @property
    def unproven(self) -> list[dict]:
        """The privileges of the first sync its passed steps could not prove (the `done` event's `unproven`)."""
        return unproven_requirements(self.steps)


class TestRunEvent(models.Model):
    """One stored SSE event of a test run (django-eventstream storage: `EventStorage`).

    Stored with the run, so they go when it goes, and numbered by the run's single producer: one INSERT
    per event instead of the library's counter-row locking.
    """

    __test__ = False

    run = models.ForeignKey(TestRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    data = models.TextField()  # the JSON text as published
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="one_event_per_seq")]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} of {self.run_id}"
