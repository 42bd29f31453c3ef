"""Destinations, shared connections, and the pipelines and syncs that use them."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from importlib.metadata import PackageNotFoundError, version

from django.conf import settings
from django.db import models
from django.db.models import F
from django.db.models.deletion import SET_NULL, ProtectedError
from django.db.models.functions import Coalesce

from connectors.runtime.registry import get_connector_class

from ..config import mask_config, split_secrets
from ..crypto import EncryptedJSONField


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
    # The OAuth token lifecycle (`oauth_callback`, `connection_token_refresh`); empty for credentials pasted by hand.
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
    # Scheduled health checks (`due_destinations`): empty inherits the workspace's interval, 0 is off.
    check_interval_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Re-test this often; empty: the workspace's interval; 0: never."
    )
    # When the scheduler has planned this destination's next check (the jittered start), until it starts.
    health_check_due_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    # What the last test learned about when the credentials stop working ([{credential, expires_at, source,
    # remedy}], a stored OAuth lifetime included), and the soonest of those moments.
    credential_expiries = models.JSONField(default=list, blank=True, editable=False)
    credentials_expire_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    # `config_validation_mark` of the stored config last validated: an unchanged config is not validated again
    # (its RSA or service-account keys parsed again) at each scheduled check.
    validated_config_mark = models.CharField(max_length=64, blank=True, default="", db_default="", editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="destination_ws_created"),
            # The scheduler's due query: one range per interval (check_interval_minutes = m AND last checked
            # before now - m), combined in a BitmapOr, reads the due destinations only, not the fleet. Not
            # partial: PostgreSQL estimates the expression from a partial index's statistics at a default third.
            models.Index(
                F("check_interval_minutes"), Coalesce("last_tested_at", "created_at"), name="destination_schedule"
            ),
        ]

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


def stored_config_digest(destination: Destination) -> str:
    """A keyed digest of what `destination` runs with (type, its config and its connection's credentials).

    It changes whenever any of them does: it keys the fields cache and tells a finishing test whether the
    config it tested is still the stored one. It reveals no secret.
    """
    tested = {"destination_type": destination.destination_type, "config": destination.effective_config()}
    text = json.dumps(tested, sort_keys=True, default=str).encode()
    return hmac.new(settings.SECRET_KEY.encode(), text, hashlib.sha256).hexdigest()


def _release() -> str:
    try:
        return version("zeotap-composable-destinations")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return ""


def config_validation_mark(digest: str, destination_type: str) -> str:
    """What `validated_config_mark` holds once the config of `stored_config_digest` `digest` validated: it changes
    with the config, the type's schema and the release (whose code may validate differently)."""
    schema = json.dumps(get_connector_class(destination_type).config_schema, sort_keys=True, default=str)
    return hashlib.sha256(f"{digest}|{_release()}|{schema}".encode()).hexdigest()
