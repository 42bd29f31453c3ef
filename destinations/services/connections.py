"""Shared connections: which one a destination names, and their writes."""

from __future__ import annotations

from django.db import transaction
from django.db.models.deletion import ProtectedError

from ..config import (
    connector_class_for,
    effective_config,
    merge_config,
    new_config,
    validated_credentials,
)
from ..errors import Conflict, InvalidInput, blocking_references
from ..models import AuditAction, Connection, DestinationStatus
from ..selectors import NotFound, connection_get
from .audit import audit_record, config_changes


def resolve_connection(*, workspace, connection_id, destination_type: str) -> Connection | None:
    if connection_id is None:
        return None
    try:
        connection = connection_get(workspace=workspace, connection_id=connection_id)
    except NotFound:
        raise InvalidInput({"connection_id": ["No connection with this id in this workspace."]}) from None
    if connection.destination_type != destination_type:
        raise InvalidInput(
            {
                "connection_id": [
                    f"This connection is for {connection.destination_type!r} destinations, not {destination_type!r}."
                ]
            }
        )
    return connection


def connection_credentials_check(*, destination_type: str, credentials: dict) -> dict:
    """A new connection's credentials, checked as create stores them; raises InvalidInput."""
    connector_cls = connector_class_for(destination_type)
    return validated_credentials(connector_cls, new_config(connector_cls, credentials, field="credentials"))


@transaction.atomic
def connection_create(*, workspace, actor, via: str, name: str, destination_type: str, credentials: dict) -> Connection:
    credentials = connection_credentials_check(destination_type=destination_type, credentials=credentials)
    connection = Connection.objects.create(
        workspace=workspace, name=name, destination_type=destination_type, credentials=credentials, created_by=actor
    )
    connector_cls = connector_class_for(destination_type)
    changed, secret = config_changes(connector_cls, {}, credentials, prefix="credentials")
    audit_record(
        workspace=workspace,
        actor=actor,
        via=via,
        action=AuditAction.CREATE,
        target=connection,
        changed_fields=["name", "destination_type", *changed],
        secret_fields=secret,
    )
    return connection


@transaction.atomic
def connection_update(*, connection: Connection, actor, via: str, data: dict) -> Connection:
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    before = {"name": connection.name, "destination_type": connection.destination_type}
    before_credentials = dict(connection.credentials)
    if "destination_type" in data and data["destination_type"] != connection.destination_type:
        users = list(connection.destinations.all())
        if users:
            raise Conflict(
                "The type of a connection in use cannot change.",
                [{"type": "destination", "id": str(d.pk), "name": d.name} for d in users],
            )
        connection.destination_type = data["destination_type"]
        connection.credentials = {}
    connector_cls = connector_class_for(connection.destination_type)
    if "name" in data:
        connection.name = data["name"]
    if "credentials" in data:
        credentials = merge_config(connector_cls, connection.credentials, data["credentials"], field="credentials")
        credentials = validated_credentials(connector_cls, credentials)
        changed = credentials != connection.credentials
        connection.credentials = credentials
        if changed:
            for destination in connection.destinations.all():
                try:
                    effective_config(connector_cls, destination.own_config(), credentials)
                except InvalidInput as exc:
                    raise InvalidInput(
                        {"credentials": [f"Destination {destination.name!r} would become invalid: {exc}"]}
                    ) from None
            connection.destinations.update(status=DestinationStatus.PENDING, status_error="")
    connection.save()
    changed, secret = config_changes(connector_cls, before_credentials, connection.credentials, prefix="credentials")
    changed += [name for name, old in before.items() if getattr(connection, name) != old]
    if changed:
        audit_record(
            workspace=connection.workspace,
            actor=actor,
            via=via,
            action=AuditAction.UPDATE,
            target=connection,
            changed_fields=changed,
            secret_fields=secret,
        )
    return connection


@transaction.atomic
def connection_delete(*, connection: Connection, actor, via: str) -> None:
    target_id = connection.pk
    try:
        connection.delete()
    except ProtectedError as exc:
        blocking = blocking_references(exc.protected_objects)
        names = ", ".join(repr(b["name"]) for b in blocking)
        detail = f"This connection is used by destinations {names}; change or delete them first."
        raise Conflict(detail, blocking) from None
    connection.pk = target_id
    audit_record(workspace=connection.workspace, actor=actor, via=via, action=AuditAction.DELETE, target=connection)
