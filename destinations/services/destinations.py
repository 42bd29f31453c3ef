"""Writes for destinations: check, create, update, delete, and the secrets a vendor rotated."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.deletion import ProtectedError

from ..config import (
    connector_class_for,
    effective_config,
    merge_config,
    new_config,
)
from ..errors import Conflict, InvalidInput, blocking_references
from ..models import AuditAction, Connection, Destination, DestinationStatus
from .audit import audit_record, config_changes
from .connections import resolve_connection


def destination_config_check(
    *, workspace, destination_type: str, config: dict, connection_id=None
) -> tuple[Connection | None, dict, dict]:
    """A new destination's (connection, own config, effective config), checked; raises InvalidInput."""
    connector_cls = connector_class_for(destination_type)
    connection = resolve_connection(workspace=workspace, connection_id=connection_id, destination_type=destination_type)
    config = new_config(connector_cls, config)
    return connection, config, effective_config(connector_cls, config, connection.credentials if connection else None)


@transaction.atomic
def destination_create(
    *,
    workspace,
    actor,
    via: str,
    name: str,
    destination_type: str,
    config: dict,
    connection_id=None,
    check_interval_minutes: int | None = None,
) -> Destination:
    """`via`: what the change came through (api, admin, cli, …), for the audit history."""
    connection, config, _effective = destination_config_check(
        workspace=workspace, destination_type=destination_type, config=config, connection_id=connection_id
    )
    destination = Destination(
        workspace=workspace,
        name=name,
        destination_type=destination_type,
        connection=connection,
        created_by=actor,
        check_interval_minutes=check_interval_minutes,
    )
    destination.store_config(config)
    destination.save()
    changed, secret = config_changes(connector_class_for(destination_type), {}, config, prefix="config")
    audit_record(
        workspace=workspace,
        actor=actor,
        via=via,
        action=AuditAction.CREATE,
        target=destination,
        changed_fields=["name", "destination_type", *(["connection_id"] if connection else []), *changed],
        secret_fields=secret,
    )
    return destination


@transaction.atomic
def destination_update(*, destination: Destination, actor, via: str, data: dict) -> Destination:
    """Change only the fields in `data`; a change to config, connection or type resets the status."""
    destination = Destination.objects.select_for_update().get(pk=destination.pk)
    before = {
        "name": destination.name,
        "destination_type": destination.destination_type,
        "check_interval_minutes": destination.check_interval_minutes,
    }
    old_type = destination.destination_type
    new_type = data.get("destination_type", old_type)
    connector_cls = connector_class_for(new_type)
    type_changed = new_type != old_type
    if type_changed and "config" not in data:
        raise InvalidInput({"config": [f"Required when destination_type changes; send a full {new_type} config."]})

    connection = destination.connection
    if "connection_id" in data:
        connection = resolve_connection(
            workspace=destination.workspace, connection_id=data["connection_id"], destination_type=new_type
        )
    elif type_changed and connection is not None:
        resolve_connection(workspace=destination.workspace, connection_id=connection.pk, destination_type=new_type)

    config = destination.own_config()
    if type_changed:
        config = new_config(connector_cls, data["config"])
    elif "config" in data:
        config = merge_config(connector_cls, config, data["config"])
    config_changed = config != destination.own_config()
    connection_changed = connection != destination.connection
    effective_config(connector_cls, config, connection.credentials if connection else None)
    changed, secret = config_changes(connector_cls, destination.own_config(), config, prefix="config")

    if "name" in data:
        destination.name = data["name"]
    if "check_interval_minutes" in data:  # the scheduled re-test interval (`due_destinations`)
        destination.check_interval_minutes = data["check_interval_minutes"]
    if type_changed or config_changed or connection_changed:
        destination.destination_type = new_type
        destination.connection = connection
        destination.store_config(config)
        destination.status = DestinationStatus.PENDING
        destination.status_error = ""
    destination.save()
    changed += [name for name, old in before.items() if getattr(destination, name) != old]
    if connection_changed:
        changed.append("connection_id")
    if changed:
        audit_record(
            workspace=destination.workspace,
            actor=actor,
            via=via,
            action=AuditAction.UPDATE,
            target=destination,
            changed_fields=changed,
            secret_fields=secret,
        )
    return destination


def destination_delete(*, destination: Destination, actor, via: str) -> None:
    target_id = destination.pk
    try:
        destination.delete()
    except ProtectedError as exc:
        blocking = blocking_references(exc.protected_objects)
        names = ", ".join(f"{b['type']} {b['name']!r}" for b in blocking)
        detail = f"This destination is used by active {names}; deactivate or detach them first."
        raise Conflict(detail, blocking) from None
    destination.pk = target_id  # Django clears it on delete; the history keeps it
    audit_record(workspace=destination.workspace, actor=actor, via=via, action=AuditAction.DELETE, target=destination)


def rotated_secrets_store(*, destination_id, rotated: dict) -> None:
    """Save secrets a vendor rotated during a test or field fetch where they came from (destination or connection)."""
    if not rotated:
        return
    with transaction.atomic():
        # PostgreSQL refuses FOR UPDATE across the nullable connection join: lock the two rows one by one.
        destination = Destination.objects.select_for_update().get(pk=destination_id)
        own = {k: v for k, v in rotated.items() if k in destination.secrets or not destination.connection_id}
        if own:
            destination.store_config({**destination.own_config(), **own})
            destination.save(update_fields=["config", "secrets", "updated_at"])
        shared = {k: v for k, v in rotated.items() if k not in own}
        if shared:
            connection = Connection.objects.select_for_update().get(pk=destination.connection_id)
            connection.credentials = {**connection.credentials, **shared}
            connection.token_version = F("token_version") + 1  # an OAuth refresh in flight must not overwrite these
            connection.save(update_fields=["credentials", "token_version", "updated_at"])
