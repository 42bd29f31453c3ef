"""Test jobs: many destinations tested at once, their items and the events they stream."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class TestJobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class TestJob(models.Model):
    """A bulk connection test run in the background; its items are the per-destination results."""

    __test__ = False

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="test_jobs")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    trigger = models.CharField(max_length=8)  # who asked: api, admin or cli (its runs have trigger `job`)
    selection = models.JSONField(default=dict)
    state = models.CharField(max_length=16, choices=TestJobState.choices, default=TestJobState.QUEUED)
    total = models.PositiveIntegerField(default=0)
    # Kept as results arrive (`jobs.background`), so progress never recounts the items.
    passed = models.PositiveIntegerField(default=0, db_default=0)
    failed = models.PositiveIntegerField(default=0, db_default=0)
    missing = models.PositiveIntegerField(default=0, db_default=0)
    concurrency = models.PositiveSmallIntegerField(default=8)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Stamped by the process running the job; a stale one means it died (see jobs.reap_interrupted_jobs).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Test job {self.id} ({self.total} destinations)"

    @property
    def channel(self) -> str:
        return f"testjob-{self.id}"  # the job id as the API spells it


class TestJobItemState(models.TextChoices):
    QUEUED = "queued", "Queued"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
    MISSING = "missing", "Deleted before testing"


class TestJobItem(models.Model):
    __test__ = False

    job = models.ForeignKey(TestJob, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    destination = models.ForeignKey(
        "destinations.Destination", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    destination_name = models.CharField(max_length=200)
    destination_type = models.CharField(max_length=40)
    state = models.CharField(max_length=16, choices=TestJobItemState.choices, default=TestJobItemState.QUEUED)
    test_run = models.ForeignKey(
        "destinations.TestRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    failed_step = models.CharField(max_length=64, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "position"]
        constraints = [models.UniqueConstraint(fields=["job", "position"], name="one_job_item_per_position")]

    def __str__(self) -> str:
        return f"{self.destination_name} in {self.job_id}"


class TestJobEvent(models.Model):
    """One stored SSE event of a job's progress channel (stored by `EventStorage`), like TestRunEvent."""

    __test__ = False

    job = models.ForeignKey(TestJob, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    data = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="one_event_per_job_seq")]

    def __str__(self) -> str:
        return f"{self.type} #{self.seq} of job {self.job_id}"
