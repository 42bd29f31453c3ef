"""What happened: the audit log and the idempotency keys of API writes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditVia(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    CLI = "cli", "Command line"
    SCHEDULE = "schedule", "Schedule"
    JOB = "job", "Job"


class AuditAction(models.TextChoices):
    CREATE = "create", "Created"
    UPDATE = "update", "Updated"
    DELETE = "delete", "Deleted"
    TEST = "test", "Tested"
    REAUTHORIZE = "reauthorize", "Re-authorised"


class AuditTarget(models.TextChoices):
    DESTINATION = "destination", "Destination"
    CONNECTION = "connection", "Connection"
    OAUTH_APP = "oauth_app", "OAuth app"
    MEMBER = "member", "Member"
    API_TOKEN = "api_token", "API token"
    MONITORING = "monitoring", "Health checks and notifications"


class AuditEvent(models.Model):
    """Who did what to a destination or connection, when, through what, and which fields changed.

    Field names only, never values (old or new): `secret_fields` names the changed ones that are secret.
    The target is kept by id and name, not by foreign key, so its history outlives it.
    """

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=254, blank=True, help_text="Who, as named when it happened.")
    via = models.CharField(max_length=16, choices=AuditVia.choices)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    target_type = models.CharField(max_length=16, choices=AuditTarget.choices)
    target_id = models.UUIDField()
    target_name = models.CharField(max_length=200)
    changed_fields = models.JSONField(default=list, blank=True)
    secret_fields = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_id", "-created_at"], name="audit_target_created")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target_type} {self.target_name!r} via {self.via}"


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key` for one request, kept a while per workspace (IDEMPOTENCY_KEY_HOURS).

    `fingerprint` is a keyed hash of the method, path and body (never the body: it may carry secrets);
    `resource_id` is what the first request made (a destination, a connection or a test run).
    """

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    resource_id = models.UUIDField(null=True)
    status_code = models.PositiveSmallIntegerField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "key"], name="one_idempotency_key_per_workspace")]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key!r}"
