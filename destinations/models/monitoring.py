"""A workspace's monitoring settings and the notifications sent for status changes."""

from __future__ import annotations

import uuid

from django.db import models

from ..crypto import EncryptedJSONField


class WorkspaceMonitoring(models.Model):
    """A workspace's health-check interval, and where (and with which secret) status changes are notified."""

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="monitoring"
    )
    check_interval_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Re-test every destination this often; empty: the default (HEALTH_CHECK_INTERVAL_MINUTES); 0: off.",
    )
    notification_url = models.URLField(
        max_length=2000, blank=True, default="", help_text="Status changes are POSTed here, signed (Standard Webhooks)."
    )
    # {"secret": "whsec_…"}: encrypted like every other secret; shown once when created or rotated.
    signing_secret = EncryptedJSONField(default=dict, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "health checks and notifications"
        verbose_name_plural = "health checks and notifications"

    def __str__(self) -> str:
        return f"Health checks of {self.workspace}"


class NotificationState(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (no more retries)"


class Notification(models.Model):
    """One event for a workspace's notification URL, with its delivery attempts (the notification log)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="notifications")
    destination = models.ForeignKey(
        "destinations.Destination", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    test_run = models.ForeignKey(
        "destinations.TestRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    url = models.CharField(max_length=2000)
    state = models.CharField(
        max_length=16, choices=NotificationState.choices, default=NotificationState.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # An event sent once only (an expiry warning per credential and threshold) carries its key here.
    dedupe_key = models.CharField(max_length=300, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "dedupe_key"],
                condition=~models.Q(dedupe_key=""),
                name="notification_sent_once",
            )
        ]
        # The API's notification log: a workspace's newest first, read from the index, not sorted.
        indexes = [models.Index(fields=["workspace", "-created_at"], name="notification_ws_created")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.webhook_id}"

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks `webhook-id`: the same on every retry, so receivers can de-duplicate."""
        return f"msg_{self.id.hex}"
