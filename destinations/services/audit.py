"""Audit history of destinations and connections: one service writes it, whoever made the change.

Only field names are kept. A secret is named (`config.api_key`), its value never, old or new.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from connectors.runtime.base import Connector

from ..models import AuditAction, AuditEvent, AuditTarget, AuditVia, Connection, Destination, OAuthApp


def _actor_label(actor) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return ""
    return actor.get_username()


@dataclass(frozen=True)
class Subject:
    """A workspace setting that is not a row of its own kind: a member, an API token, the monitoring settings."""

    target_type: str
    target_id: uuid.UUID
    target_name: str


def _target(target: Destination | Connection | OAuthApp | Subject) -> dict:
    if isinstance(target, Subject):
        AuditTarget(target.target_type)
        return {"target_type": target.target_type, "target_id": target.target_id, "target_name": target.target_name}
    if isinstance(target, OAuthApp):
        return {"target_type": AuditTarget.OAUTH_APP, "target_id": target.audit_id, "target_name": str(target)}
    kind = AuditTarget.CONNECTION if isinstance(target, Connection) else AuditTarget.DESTINATION
    return {"target_type": kind, "target_id": target.pk, "target_name": target.name}


def audit_record(
    *,
    workspace,
    actor,
    via: str,
    action: str,
    target: Destination | Connection | OAuthApp | Subject,
    changed_fields: Iterable[str] = (),
    secret_fields: Iterable[str] = (),
    details: Mapping | None = None,
) -> AuditEvent:
    """Record one change. `changed_fields` are names (`name`, `config.url`); values are never passed in."""
    AuditVia(via), AuditAction(action)  # an unknown value is a programming error, not a silent row
    secret_fields = sorted(set(secret_fields))
    return AuditEvent.objects.create(
        workspace=workspace,
        actor=actor if _actor_label(actor) else None,
        actor_label=_actor_label(actor),
        via=via,
        action=action,
        **_target(target),
        changed_fields=sorted(set(changed_fields) | set(secret_fields)),
        secret_fields=secret_fields,
        details=dict(details or {}),
    )


def config_changes(
    connector_cls: type[Connector] | None, before: Mapping, after: Mapping, *, prefix: str
) -> tuple[list[str], list[str]]:
    """(changed names, the secret ones among them) between two configs with secrets in clear.

    An object-valued secret (e.g. headers) names each changed key inside it: `config.headers.X-API-Key`.
    """
    secret_names = set(connector_cls.secret_fields()) if connector_cls else set()
    changed, secret = [], []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in secret_names and (isinstance(old, dict) or isinstance(new, dict)):
            old, new = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
            names = [f"{prefix}.{key}.{sub}" for sub in sorted(set(old) | set(new)) if old.get(sub) != new.get(sub)]
        else:
            names = [f"{prefix}.{key}"]
        changed += names
        if key in secret_names:
            secret += names
    return changed, secret


def audit_history(*, workspace, target: Destination | Connection | OAuthApp):
    """A target's events in this workspace, newest first."""
    target_id = target.audit_id if isinstance(target, OAuthApp) else target.pk
    return AuditEvent.objects.filter(workspace=workspace, target_id=target_id).order_by("-created_at", "-id")
