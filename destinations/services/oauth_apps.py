"""The OAuth apps Connect uses (a workspace's own, or the deployment's) and the redirect allow-list."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from connectors.runtime.oauth import (
    OAuthApp,
    OAuthProvider,
)
from connectors.runtime.registry import provider_for

from ..config import connector_class_for
from ..errors import InvalidInput
from ..models import AuditAction
from ..models import OAuthApp as WorkspaceOAuthApp
from .audit import audit_record


def oauth_provider(destination_type: str, *, field_name: str = "destination_type") -> OAuthProvider:
    connector_class_for(destination_type, field=field_name)
    provider = provider_for(destination_type)
    if provider is None:
        raise InvalidInput({field_name: [f"{destination_type} destinations do not authenticate with OAuth."]})
    return provider


def oauth_app_for(*, workspace, destination_type: str) -> OAuthApp:
    """The workspace's own app for this type if it has one, else the deployment's (OAUTH_APPS)."""
    own = WorkspaceOAuthApp.objects.filter(workspace=workspace, destination_type=destination_type).first()
    if own is not None:
        return OAuthApp(own.client_id, own.secrets.get("client_secret", ""))
    configured = settings.OAUTH_APPS.get(destination_type) or {}
    if not configured.get("client_id"):
        raise InvalidInput(
            {
                "destination_type": [
                    f"No OAuth app is configured for {destination_type}: set OAUTH_APPS for the deployment, or add "
                    "the workspace's own app."
                ]
            }
        )
    return OAuthApp(configured["client_id"], configured.get("client_secret", ""))


def oauth_app_set(
    *, workspace, actor, via: str, destination_type: str, client_id: str, client_secret: str
) -> WorkspaceOAuthApp:
    """Bring the workspace's own app (its secret encrypted like every other); every later Connect of this type
    uses it, so callers let only workspace admins do it. Audited by field name: the secret is named, never kept."""
    oauth_provider(destination_type)
    with transaction.atomic():
        before = (
            WorkspaceOAuthApp.objects.select_for_update()
            .filter(workspace=workspace, destination_type=destination_type)
            .first()
        )
        app, created = WorkspaceOAuthApp.objects.update_or_create(
            workspace=workspace,
            destination_type=destination_type,
            defaults={"client_id": client_id, "secrets": {"client_secret": client_secret}, "updated_by": actor},
        )
        changed = [
            name
            for name, old, new in (
                ("client_id", before and before.client_id, client_id),
                ("client_secret", before and before.secrets.get("client_secret"), client_secret),
            )
            if old != new
        ]
        audit_record(
            workspace=workspace,
            actor=actor,
            via=via,
            action=AuditAction.CREATE if created else AuditAction.UPDATE,
            target=app,
            changed_fields=changed,
            secret_fields=[name for name in changed if name == "client_secret"],
        )
    return app


def oauth_app_describe(*, workspace, destination_type: str) -> dict:
    """Which app Connect uses for this type: the workspace's own (since when, set by whom) or the deployment's.
    Never its secret."""
    oauth_provider(destination_type)
    own = (
        WorkspaceOAuthApp.objects.select_related("updated_by")
        .filter(workspace=workspace, destination_type=destination_type)
        .first()
    )
    if own is None:
        configured = settings.OAUTH_APPS.get(destination_type) or {}
        return {"destination_type": destination_type, "source": "deployment", "client_id": configured.get("client_id")}
    return {
        "destination_type": destination_type,
        "source": "workspace",
        "client_id": own.client_id,
        "created_at": own.created_at,
        "updated_at": own.updated_at,
        "updated_by": own.updated_by_id,
        "updated_by_label": own.updated_by.get_username() if own.updated_by else "",
    }


def redirect_uri_allowed(uri: str) -> bool:
    """An entry of OAUTH_REDIRECT_ALLOWED is an exact URI, or an origin (no path) allowing any path under it."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment or parts.username:
        return False
    for entry in settings.OAUTH_REDIRECT_ALLOWED:
        allowed = urlsplit(entry)
        if entry == uri:
            return True
        if (
            allowed.path in ("", "/")
            and not allowed.query
            and (allowed.scheme, allowed.netloc)
            == (
                parts.scheme,
                parts.netloc,
            )
        ):
            return True
    return False


def callback_uri_for(request) -> str:
    """The redirect URI registered with every vendor: OAUTH_CALLBACK_URL, or this server's /oauth/callback."""
    return settings.OAUTH_CALLBACK_URL or request.build_absolute_uri("/oauth/callback")
