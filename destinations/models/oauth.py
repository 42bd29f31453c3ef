"""OAuth apps of a workspace and the pending authorisations."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from ..crypto import EncryptedJSONField
from .destinations import Connection


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
