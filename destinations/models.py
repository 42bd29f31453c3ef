"""Destinations, shared connections, the pipelines and syncs that use them, and test-run history."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.deletion import SET_NULL, ProtectedError
from django.utils import timezone

from connectors.runtime.registry import get_connector_class

from .config import mask_config, split_secrets
from .crypto import EncryptedJSONField


class DestinationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONNECTED = "connected", "Connected"
    ERROR = "error", "Error"


def PROTECT_WHILE_ACTIVE(collector, field, sub_objs, using):
    """on_delete: an active reference blocks the delete; inactive ones are detached (set to NULL).

    Living in the model layer, the rule holds for the API, admin, bulk deletes and the shell alike.
    """
    active = [obj for obj in sub_objs if obj.is_active]
    if active:
        raise ProtectedError(
            f"Cannot delete this {field.remote_field.model._meta.verbose_name}: "
            f"active {field.model._meta.verbose_name_plural} use it.",
            active,
        )
    SET_NULL(collector, field, sub_objs, using)


class Connection(models.Model):
    """Credentials shared by several destinations of one workspace and type."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=200)
    destination_type = models.CharField(max_length=40)
    credentials = EncryptedJSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The OAuth token lifecycle (destinations/oauth.py); empty for credentials pasted by hand.
    authorized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    authorized_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = models.JSONField(default=list, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="When the access token expires.")
    last_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_refresh_error = models.TextField(blank=True, default="", editable=False)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The soonest moment these credentials stop working, as a test of a destination using them learned it.
    credentials_expire_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    # Which vendor account granted it (Salesforce identity URL, HubSpot hub_id and user_id): no secrets.
    authorized_account = models.JSONField(default=dict, blank=True, editable=False)
    # Bumped by every write of OAuth tokens: a refresh saves only if nobody saved newer tokens meanwhile.
    token_version = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.destination_type})"


class Destination(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="destinations")
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="destinations"
    )
    name = models.CharField(max_length=200)
    destination_type = models.CharField(max_length=40, db_index=True)
    # The config as responses show it: secret values replaced by ********. They live encrypted in `secrets`,
    # so listing destinations never decrypts anything.
    config = models.JSONField(default=dict, blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=DestinationStatus.choices, default=DestinationStatus.PENDING, db_index=True
    )
    status_error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    # Scheduled health checks (destinations/health.py): empty inherits the workspace's interval, 0 is off.
    check_interval_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Re-test this often; empty: the workspace's interval; 0: never."
    )
    # When the scheduler has planned this destination's next check (the jittered start), until it starts.
    health_check_due_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    # What the last test learned about when the credentials stop working ([{credential, expires_at, source,
    # remedy}], a stored OAuth lifetime included), and the soonest of those moments.
    credential_expiries = models.JSONField(default=list, blank=True, editable=False)
    credentials_expire_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["workspace", "created_at"], name="destination_ws_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.destination_type})"

    def store_config(self, config: dict) -> None:
        """Keep `config` (secrets in clear): masked in `config`, the secret values encrypted in `secrets`."""
        connector_cls = get_connector_class(self.destination_type)
        self.config = mask_config(connector_cls, config)
        self.secrets = split_secrets(connector_cls, config)[1]

    def own_config(self) -> dict:
        """The destination's own config with secrets in clear (for merging and running; never returned)."""
        return {**self.config, **self.secrets}

    def effective_config(self) -> dict:
        """The config a connector runs with: the connection's credentials fill what the destination omits."""
        base = dict(self.connection.credentials) if self.connection_id else {}
        return {**base, **self.own_config()}


class DestinationConsumer(models.Model):
    """What pipelines and syncs share: a destination they write to while active."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    destination = models.ForeignKey(
        Destination, null=True, blank=True, on_delete=PROTECT_WHILE_ACTIVE, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReverseETLPipeline(DestinationConsumer):
    BLOCKING_TYPE = "reverse_etl_pipeline"

    class Meta(DestinationConsumer.Meta):
        verbose_name = "Reverse ETL pipeline"


class Sync(DestinationConsumer):
    BLOCKING_TYPE = "sync"


class TestRunTrigger(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    CLI = "cli", "Command line"
    SCHEDULE = "schedule", "Scheduled health check"
    JOB = "job", "Test job"


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
        ]

    def __str__(self) -> str:
        return f"Test {self.id} ({self.destination_type})"

    @property
    def channel(self) -> str:
        return f"testrun-{self.id.hex}"

    @property
    def failed_step(self) -> dict | None:
        return next((step for step in self.steps if step.get("status") == "failed"), None)


class TestRunEvent(models.Model):
    """One stored SSE event of a test run (django-eventstream storage; see destinations/sse.py).

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


class OAuthApp(models.Model):
    """A workspace's own OAuth app for one type, used instead of the deployment's (settings.OAUTH_APPS)."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="oauth_apps")
    destination_type = models.CharField(max_length=40)
    client_id = models.CharField(max_length=300)
    secrets = EncryptedJSONField(default=dict)  # {"client_secret": ...}
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = "OAuth app"
        constraints = [models.UniqueConstraint(fields=["workspace", "destination_type"], name="one_oauth_app_per_type")]

    def __str__(self) -> str:
        return f"{self.destination_type} app {self.client_id}"

    @property
    def audit_id(self) -> uuid.UUID:
        """The history's id of the workspace's app for this type: the same whichever app fills it."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"destinations:oauth-app:{self.workspace_id}:{self.destination_type}")


class OAuthState(models.Model):
    """One pending authorisation: the signed `state` names this row, and the callback consumes it once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    destination_type = models.CharField(max_length=40)
    connection = models.ForeignKey(Connection, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200, blank=True, default="")
    redirect_uri = models.TextField()  # where the user returns (allow-listed, or the admin's own page)
    callback_uri = models.TextField()  # the redirect_uri given to the vendor; the token request repeats it
    scopes = models.JSONField(default=list)
    # the PKCE code_verifier, the Salesforce login host, whether the admin started it: what the callback needs
    secrets = EncryptedJSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth state"

    def __str__(self) -> str:
        return f"OAuth {self.destination_type} for {self.user_id} ({self.id})"


from .models_checks import (  # noqa: E402  (models of the scheduled checks, notifications and test jobs)
    Notification,
    NotificationState,
    TestJob,
    TestJobEvent,
    TestJobItem,
    TestJobItemState,
    TestJobState,
    WorkspaceMonitoring,
)

__all__ = [
    "Connection",
    "Destination",
    "DestinationStatus",
    "Notification",
    "NotificationState",
    "OAuthApp",
    "OAuthState",
    "ReverseETLPipeline",
    "Sync",
    "TestJob",
    "TestJobEvent",
    "TestJobItem",
    "TestJobItemState",
    "TestJobState",
    "TestRun",
    "TestRunEvent",
    "TestRunTrigger",
    "WorkspaceMonitoring",
]
