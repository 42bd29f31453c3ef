"""Which process runs the embedded scheduler on this database (destinations/schedule/election.py)."""

from __future__ import annotations

from django.db import models


class SchedulerLease(models.Model):
    """A lease on a role, held by one process until `expires_at` (database time) unless it renews it."""

    name = models.CharField(primary_key=True, max_length=40)
    holder = models.CharField(max_length=200, help_text="host:pid of the process holding the lease.")
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name}: {self.holder} until {self.expires_at:%Y-%m-%d %H:%M:%S}"
